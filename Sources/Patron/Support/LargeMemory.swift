#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Raw memory for big columns (a million-row client table is tens of MiB a column):
/// aligned to 2 MiB and marked for transparent huge pages where the system offers
/// them, so filling it takes one page fault per 2 MiB instead of one per 4 KiB.
/// Memory from ``allocate(_:count:)`` goes back through ``free(_:)``.
enum LargeMemory {
    private static let hugePage = 2 << 20

    /// Uninitialised room for `count` values (at least one).
    static func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let bytes = max(count, 1) * MemoryLayout<T>.stride
        var raw: UnsafeMutableRawPointer?
        let alignment = bytes >= hugePage ? hugePage : max(MemoryLayout<T>.alignment, 16)
        if posix_memalign(&raw, alignment, bytes) == 0, let raw {
            #if os(Linux)
            if bytes >= hugePage { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
            #endif
            return raw.bindMemory(to: T.self, capacity: max(count, 1))
        }
        // No aligned memory to be had: ordinary memory, which `free` takes too. Out of
        // memory altogether stops the process, as Swift's own allocation does.
        guard let plain = malloc(bytes) else { fatalError("out of memory allocating \(bytes) bytes") }
        return plain.bindMemory(to: T.self, capacity: max(count, 1))
    }

    /// Frees memory from ``allocate(_:count:)`` (the values must be trivial).
    static func free<T>(_ p: UnsafeMutablePointer<T>) {
        #if canImport(Glibc)
        Glibc.free(p)
        #else
        Darwin.free(p)
        #endif
    }
}
