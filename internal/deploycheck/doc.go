// Package deploycheck checks the container files at the top of the repository
// (Dockerfile, .dockerignore, docker-compose.yml) without a Docker engine:
// everything that can be known without building or running them.
//
// Its tests load docker-compose.yml with compose-go, the library docker
// compose itself uses, and read the Dockerfile with the small parser in this
// package. They hold the files to what the services need: every environment
// variable names a config key and its value loads, the images are pinned, the
// binaries are built with cgo on the C library the runtime image has, the
// scalable services carry nothing that would make two instances collide, and
// the topics, listeners, ports and health checks agree with each other and
// with the services' configuration.
package deploycheck
