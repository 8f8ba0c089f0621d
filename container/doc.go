// Package container holds the container test (TestContainer, in
// container_test.go): it starts its own dockerd, builds local stand-ins for
// the base images the Dockerfile and docker-compose.yml name (no registry is
// reachable), builds Ferry's image with the project's own Dockerfile and runs
// the project's own docker-compose.yml, and drives the stack through its
// published ports only. docs/production.md ("The container test") says
// what it proves.
package container
