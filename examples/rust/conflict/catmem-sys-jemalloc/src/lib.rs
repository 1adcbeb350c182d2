//! One function is enough to show the link.
extern "C" {
    pub fn catmem_backend_name() -> *const std::os::raw::c_char;
}
