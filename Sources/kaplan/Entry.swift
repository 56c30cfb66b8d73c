import CMalloc
import KaplanCLI

@main enum Entry {
    static func main() async {
        keepChunkBuffersMapped()
        await KaplanCommand.main()
    }

    /// Stream chunks are 1 MiB buffers made and freed many times a second. glibc's defaults give each one fresh
    /// pages (mmap above 128 KiB, or a trim of the heap's top after the free), which the kernel zeroes on first
    /// touch: that was a tenth of a relay's receiving thread (perf, bench/RESULTS.md). Serving them from the heap
    /// and not trimming it lets freed chunks' memory be reused; the heap's peak is the same either way (the
    /// replay window and the queues bound the chunks alive at once).
    static func keepChunkBuffersMapped() {
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, 512 << 20)
    }
}
