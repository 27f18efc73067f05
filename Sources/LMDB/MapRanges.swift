import CLMDB
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where this process maps each open database file, so that
/// ``Transaction/releaseMappedPages()`` can hand those pages back to the kernel.
///
/// LMDB does not give a map's address (`me_mapaddr` is only set for fixed maps); the
/// kernel's list of the process's mappings does, by file. Every mapping of the file is
/// released (two environments on one file each have a map; releasing the other one's
/// read-only pages is harmless). The list is read once and kept until an environment
/// of the file opens, closes or moves its map (`mdb_env_set_mapsize` maps again, even
/// at the same size): ``Environment`` runs those under ``changing(_:_:)``, which holds
/// the same lock as a release, so a release never advises a range that is no longer
/// the file's map (there, `MADV_DONTNEED` would zero whatever memory took its place).
enum MapRanges {
    private struct State {
        /// The resolved path of each open environment's file, by handle.
        var files: [UInt: String] = [:]
        /// Each file's mappings, once looked up.
        var ranges: [String: [Range<UInt>]] = [:]
    }
    private static let state = Mutex(State())

    private static func id(_ env: OpaquePointer) -> UInt { UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(env))) }

    /// The path as `/proc/self/maps` writes it (symbolic links resolved).
    static func resolved(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }

    /// Runs `body`, which maps, unmaps or moves the map of `file` (a resolved path), with
    /// releases held off, and forgets the file's mappings.
    static func changing<R>(_ file: String, _ body: () throws -> R) rethrows -> R {
        try state.withLock { s in
            defer { s.ranges[file] = nil }
            return try body()
        }
    }

    /// Records that `env` (already open) maps `file`, a resolved path.
    static func opened(_ env: OpaquePointer, file: String) {
        state.withLock { s in
            s.files[id(env)] = file
            s.ranges[file] = nil
        }
    }

    /// Closes `env` (`mdb_env_close`) with releases held off, and forgets it.
    static func close(_ env: OpaquePointer) {
        state.withLock { s in
            if let file = s.files.removeValue(forKey: id(env)) { s.ranges[file] = nil }
            mdb_env_close(env)
        }
    }

    /// The mappings of `file` as last looked up, or nil when they are to be looked up
    /// again (for tests).
    static func cached(_ file: String) -> [Range<UInt>]? { state.withLock { $0.ranges[file] } }

    /// Hands back the resident pages of every mapping of `env`'s file.
    static func release(_ env: OpaquePointer) {
        state.withLock { s in
            guard let file = s.files[id(env)] else { return }
            let ranges: [Range<UInt>]
            if let known = s.ranges[file] {
                ranges = known
            } else {
                ranges = find(file)
                s.ranges[file] = ranges
            }
            for r in ranges {
                guard let base = UnsafeMutableRawPointer(bitPattern: r.lowerBound) else { continue }
                _ = madvise(base, Int(r.upperBound - r.lowerBound), MADV_DONTNEED)
            }
        }
    }

    /// Every mapping of `file` in `/proc/self/maps`.
    private static func find(_ file: String) -> [Range<UInt>] {
        guard let maps = fopen("/proc/self/maps", "r") else { return [] }
        defer { fclose(maps) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        var found: [Range<UInt>] = []
        while getline(&line, &capacity, maps) > 0 {
            guard let line else { break }
            let text = String(cString: line)
            guard text.hasSuffix(" " + file + "\n") else { continue }
            let range = text.prefix { $0 != " " }.split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16), end > start
            else { continue }
            found.append(start..<end)
        }
        return found
    }
}
