import CSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The per-client encryption keys, in a small file beside the database (`PATH-keys`).
///
/// Personal data never sits in plain text in the LMDB file: it is encrypted with a
/// key per client, and the keys live here, one 32-byte slot per client number.
/// LMDB copies pages on write and keeps freed pages' old bytes, so a key deleted
/// there would linger; this file is overwritten in place, so `forget` zeroes the
/// slot and the key is gone from every file. Slots are written only under LMDB's
/// write lock (inside the write transaction) and synced before the commit.
final class KeyStore: @unchecked Sendable {
    static let magic: [UInt8] = Array("PATRONKEYS\u{0}\u{0}".utf8)
    static let version: UInt32 = 1
    static let headerSize = 16
    static let keySize = 32

    /// Key files (by path) whose ``destroy(_:)`` fails as a full disk would: for tests
    /// of what a forget does when its key cannot be destroyed after the commit.
    static let failingDestroys = Mutex<Set<String>>([])

    let path: String
    private let fd: Int32
    /// Keys created in the running write transaction, written together by ``sync()``.
    private let pending = Mutex<[UInt32: [UInt8]]>([:])
    private let dirty = Atomic<Bool>(false)

    /// Opens (creating with mode 0600 unless read-only) the key file at `path`.
    init(path: String, readOnly: Bool) throws {
        self.path = path
        let flags = readOnly ? O_RDONLY : (O_RDWR | O_CREAT)
        let fd = open(path, flags | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PatronError.io("cannot open the key file \(path): \(String(cString: strerror(errno)))") }
        self.fd = fd
        var header = [UInt8](repeating: 0, count: Self.headerSize)
        let n = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Self.headerSize, 0) }
        if n == 0 && !readOnly {
            var fresh = Self.magic
            withUnsafeBytes(of: Self.version.littleEndian) { fresh.append(contentsOf: $0) }
            try Self.writeAll(fd, fresh, at: 0, path: path)
            guard fsync(fd) == 0 else { throw PatronError.io("cannot sync the key file \(path)") }
        } else if n == 0 && readOnly {
            // An empty key file opened read-only: every client reads as forgotten.
        } else {
            guard n == Self.headerSize, Array(header[0..<12]) == Self.magic else {
                close(fd)
                throw PatronError.format("\(path) is not a Patron key file")
            }
            let v = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 12, as: UInt32.self) }
            guard UInt32(littleEndian: v) == Self.version else {
                close(fd)
                throw PatronError.format("\(path) is key file version \(UInt32(littleEndian: v)); this Patron reads version \(Self.version)")
            }
        }
    }

    deinit { close(fd) }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws {
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard n == bytes.count else { throw PatronError.io("cannot write the key file \(path): \(String(cString: strerror(errno)))") }
    }

    private func offset(_ client: UInt32) -> Int { Self.headerSize + Int(client) * Self.keySize }

    /// The key of `client`, or nil when it was destroyed or never written.
    func key(_ client: UInt32) -> [UInt8]? {
        if let k = pending.withLock({ $0[client] }) { return k }
        return storedKey(client)
    }

    /// The key in the file's slot for `client`, nil when zero or past the end.
    private func storedKey(_ client: UInt32) -> [UInt8]? {
        var k = [UInt8](repeating: 0, count: Self.keySize)
        let n = k.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Self.keySize, off_t(offset(client))) }
        guard n == Self.keySize, k.contains(where: { $0 != 0 }) else { return nil }
        return k
    }

    /// A fresh random key for `client`; written to the file by ``sync()``.
    func createKey(_ client: UInt32) -> [UInt8] {
        var k = [UInt8](repeating: 0, count: Self.keySize)
        repeat { Self.fillRandom(&k) } while !k.contains(where: { $0 != 0 })
        pending.withLock { $0[client] = k }
        return k
    }

    /// Fills `bytes` from the system's secure random source: one `getrandom` call for
    /// a key on Linux (an import creates a key per new client; the standard generator
    /// would make one call per 8 bytes), else the standard generator.
    private static func fillRandom(_ bytes: inout [UInt8]) {
        let filled = bytes.withUnsafeMutableBytes { b in patron_random_bytes(b.baseAddress, b.count) }
        if filled == bytes.count { return }
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = rng.next() }
    }

    /// Overwrites `client`'s key with zeros: its personal data can never be read again.
    func destroy(_ client: UInt32) throws {
        pending.withLock { _ = $0.removeValue(forKey: client) }
        guard storedKey(client) != nil else { return }
        if Self.failingDestroys.withLock({ $0.contains(path) }) {
            throw PatronError.io("cannot write the key file \(path): a failure made by a test")
        }
        try Self.writeAll(fd, [UInt8](repeating: 0, count: Self.keySize), at: offset(client), path: path)
        dirty.store(true, ordering: .relaxed)
    }

    /// Writes the keys created since the last call (consecutive clients in one write)
    /// and makes every change durable; called before the LMDB commit that relies on them.
    func sync() throws {
        let created = pending.withLock { p in
            defer { p.removeAll() }
            return p.sorted { $0.key < $1.key }
        }
        var i = 0
        while i < created.count {
            var j = i + 1
            while j < created.count && created[j].key == created[j - 1].key + 1 { j += 1 }
            try Self.writeAll(fd, created[i..<j].flatMap(\.value), at: offset(created[i].key), path: path)
            i = j
        }
        guard !created.isEmpty || dirty.exchange(false, ordering: .relaxed) else { return }
        guard fsync(fd) == 0 else { throw PatronError.io("cannot sync the key file \(path): \(String(cString: strerror(errno)))") }
    }

    /// Drops keys created by a transaction that did not commit.
    func discardPending() { pending.withLock { $0.removeAll() } }

    /// Copies the key file to `destination` (for backups), mode 0600.
    func copy(to destination: String) throws {
        let out = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw PatronError.io("cannot create \(destination): \(String(cString: strerror(errno)))") }
        defer { close(out) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var offset = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            guard n >= 0 else { throw PatronError.io("cannot read \(path)") }
            if n == 0 { break }
            try Self.writeAll(out, Array(buffer[0..<n]), at: offset, path: destination)
            offset += n
        }
        guard fsync(out) == 0 else { throw PatronError.io("cannot sync \(destination)") }
    }
}
