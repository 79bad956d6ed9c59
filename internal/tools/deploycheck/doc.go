// Package deploycheck checks the container and monitoring files of the
// repository: the Dockerfile, .dockerignore, docker-compose.yml, the
// monitoring profile's Prometheus configuration, the alert rules and the
// Grafana dashboard.
//
// Its plain tests need no container engine. They load docker-compose.yml with
// compose-go, the library docker compose itself uses, and read the Dockerfile
// with the small parser in this package. They hold the files to what the
// services need: every environment variable names a config key and its value
// loads, the images are pinned, the binaries are built with cgo on the C
// library the runtime image has, the scalable services carry nothing that
// would make two instances collide, the topics, listeners, ports and health
// checks agree with each other and with the services' configuration, and
// Prometheus scrapes both services under the job names the alert rules
// expect. With promtool (PROMTOOL, or on PATH) they run the rules' unit tests.
//
// Services holds each service's own configuration loading, so that the
// compose checks here and the Helm chart's in deploy/helmtest ask the same
// question of their files: does every variable name a key, and does the
// service accept the result?
//
// Under the build tag "containers", TestContainers builds the images and runs
// the compose file on podman (make test-containers).
package deploycheck
