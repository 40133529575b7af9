// Command gate is a forward-auth gateway: reverse proxies ask it whether a
// request may pass, and it answers from a session cookie and access rules.
package main
