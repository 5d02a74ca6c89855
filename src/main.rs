fn main() {
    std::process::exit(ferrodis::cli::main());
}
