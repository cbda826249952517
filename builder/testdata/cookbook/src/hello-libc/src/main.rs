fn main() {
    let pid = unsafe { libc::getpid() };
    println!("hello from libc, pid is positive: {}", pid > 0);
}
