//! The docker CLI plugin: `docker pushx …`.

fn main() {
    std::process::exit(docker_pushx::app::main());
}
