fn main() {
    std::process::exit(netroot::cli::main());
}
