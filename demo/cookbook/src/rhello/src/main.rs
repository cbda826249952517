fn main() {
    println!("Hello from Rust, built by cook");
}
