/// Counts every allocation so INFO can report `used_memory` (see `ferrodis::alloc`).
#[global_allocator]
static GLOBAL: ferrodis::alloc::CountingAlloc = ferrodis::alloc::CountingAlloc;

fn main() {
    GLOBAL.start();
    ferrodis::alloc::mark_startup();
    std::process::exit(ferrodis::cli::main());
}
