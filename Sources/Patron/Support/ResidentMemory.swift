import Foundation

/// The memory of this process that sits in RAM, as the kernel counts it (the
/// figure `/usr/bin/time` reports as the peak): heap, stacks and the pages of
/// mapped files the process touched.
enum ResidentMemory {
    /// Bytes resident now, or nil where the system does not say (read from
    /// `/proc/self/statm` on Linux: one small read, some microseconds).
    static func bytes() -> Int? {
        #if os(Linux)
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { buffer -> Int? in
            let n = read(fd, buffer.baseAddress, buffer.count)
            guard n > 0 else { return nil }
            // "size resident shared text lib data dt", in pages: the second field.
            var field = 0, value = 0, digits = 0
            for byte in buffer[..<n] {
                if byte == UInt8(ascii: " ") {
                    if field == 1 { break }
                    field += 1
                } else if field == 1, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                    value = value &* 10 &+ Int(byte - UInt8(ascii: "0"))
                    digits += 1
                }
            }
            guard digits > 0 else { return nil }
            return value * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
        #else
        return nil
        #endif
    }
}
