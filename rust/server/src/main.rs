fn main() {
    eprintln!("rust-server: not built yet");
    std::process::exit(2);
}
