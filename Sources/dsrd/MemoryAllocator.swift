/// glibc's allocator, set for a daemon whose worker threads allocate and free buffers of a
/// few hundred KiB all day (ZIP chunks, export rows, result sets).
///
/// With glibc's defaults each thread's arena gives freed memory back to the kernel as soon
/// as 128 KiB sit free at its top (`madvise`), and the next job faults the same pages in
/// again; buffers above the (dynamic) mmap threshold are mapped and unmapped per use, and
/// every unmap stops the other threads for a TLB flush. The profile of an access run showed
/// this kernel work as a third of the daemon's CPU. Fixed thresholds keep such buffers in
/// the arenas; the peak resident size is unchanged (the memory was in use at the peak
/// anyway), only kept between jobs (issue 12).
enum MemoryAllocator {
    /// Free memory an arena keeps before returning it to the kernel.
    static let trimThreshold: Int32 = 32 << 20
    /// Allocations larger than this get their own mapping.
    static let mmapThreshold: Int32 = 4 << 20

    static func tuneForDaemon() {
        #if os(Linux)
            // <malloc.h>, which the Glibc module does not import: M_TRIM_THRESHOLD is -1,
            // M_MMAP_THRESHOLD -3.
            _ = mallopt(-1, trimThreshold)
            _ = mallopt(-3, mmapThreshold)
        #endif
    }
}

#if os(Linux)
    /// glibc's `int mallopt(int param, int value)`.
    @_silgen_name("mallopt")
    private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
