fn main() {
    eprintln!("rust-micro: not built yet");
    std::process::exit(2);
}
