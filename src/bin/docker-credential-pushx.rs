//! The credential helper docker runs as `docker-credential-pushx <verb>`.

fn main() {
    std::process::exit(docker_pushx::helper::main());
}
