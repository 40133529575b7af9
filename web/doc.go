// Package web holds the login portal's templates and static assets, embedded
// into the binary so that gate ships as one file.
package web
