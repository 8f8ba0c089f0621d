// Package docs holds Ferry's reference documentation (the Markdown files
// beside this one) and the test that runs the shell examples of README.md
// and of these files against a started Ferry. It has no code of its own.
package docs
