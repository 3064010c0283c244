// Package clock is the one source of time for code whose timers tests
// must control: Clock (Now and AfterFunc), Real for production, and Fake,
// which moves only when a test advances it. Packages take a Clock in
// their constructor instead of calling time.Now or time.After directly.
// It imports only the standard library.
package clock
