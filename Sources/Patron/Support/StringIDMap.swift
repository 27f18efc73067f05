import CSupport
import Foundation

/// A map from strings (compared as UTF-8 bytes) to 32-bit numbers, for the writer's
/// lookups that run several times per appended event (client key → client number,
/// string → dictionary id).
///
/// Open addressing with linear probing over a hash of the string's UTF-8 bytes taken
/// eight at a time, seeded once per process so that a file's keys cannot be chosen to
/// collide. On the short keys it holds this is a few times cheaper than `Dictionary`,
/// whose SipHash costs a seeding and a finalisation per lookup. No removal of single
/// keys: the writer only adds, and starts over with ``removeAll()``.
struct StringIDMap: Sendable {
    /// A slot's tag (0 when empty, else the high half of the key's hash with its lowest
    /// bit set) beside its number: a lookup reads one line for both.
    private struct Slot {
        var tag: UInt32
        var value: UInt32
    }
    private var slots: [Slot] = []
    private var keys: [String] = []
    /// Keys held.
    private(set) var count = 0

    private static let seed = UInt64.random(in: 1...UInt64.max)

    /// An empty map.
    init() {}

    /// Whether no key is held.
    var isEmpty: Bool { count == 0 }

    /// The number for `key`, or nil; setting adds the key or replaces its number
    /// (setting nil is not supported: the writer never removes a single key).
    subscript(key: String) -> UInt32? {
        get {
            guard count > 0 else { return nil }
            let (i, found, _) = slot(of: key)
            return found ? slots[i].value : nil
        }
        set {
            guard let newValue else { return }
            if (count + 1) * 8 > slots.count * 5 { grow() }
            let (i, found, tag) = slot(of: key)
            if !found {
                slots[i].tag = tag
                keys[i] = key
                count += 1
            }
            slots[i].value = newValue
        }
    }

    /// The slot holding `key`, or the empty one where it would go, and the key's tag.
    /// There is always an empty slot (the table is at most five-eighths full).
    private func slot(of key: String) -> (index: Int, found: Bool, tag: UInt32) {
        let h = Self.hash(key)
        let tag = UInt32(truncatingIfNeeded: h >> 32) | 1
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let t = slots[i].tag
            if t == 0 { return (i, false, tag) }
            if t == tag && Self.sameBytes(keys[i], key) { return (i, true, tag) }
            i = (i + 1) & mask
        }
    }

    /// A cache hint for a lookup of `key` soon: the lines of its first slot and key,
    /// so that a lookup a few events later does not wait on memory.
    func prefetch(_ key: String) {
        guard count > 0 else { return }
        let i = Int(truncatingIfNeeded: Self.hash(key)) & (slots.count - 1)
        slots.withUnsafeBufferPointer { if let base = $0.baseAddress { patron_prefetch(base + i) } }
        keys.withUnsafeBufferPointer { if let base = $0.baseAddress { patron_prefetch(base + i) } }
    }

    /// Calls `body` with every key and its number, in no particular order.
    func forEach(_ body: (String, UInt32) throws -> Void) rethrows {
        for i in slots.indices where slots[i].tag != 0 { try body(keys[i], slots[i].value) }
    }

    /// Lets go of every key.
    mutating func removeAll() {
        slots = []
        keys = []
        count = 0
    }

    /// Doubles the slots (64 at first) and places every key again.
    private mutating func grow() {
        let oldSlots = slots, oldKeys = keys
        let size = max(64, slots.count * 2)
        slots = [Slot](repeating: Slot(tag: 0, value: 0), count: size)
        keys = [String](repeating: "", count: size)
        let mask = size - 1
        for j in oldSlots.indices where oldSlots[j].tag != 0 {
            var i = Int(truncatingIfNeeded: Self.hash(oldKeys[j])) & mask
            while slots[i].tag != 0 { i = (i + 1) & mask }
            slots[i] = oldSlots[j]
            keys[i] = oldKeys[j]
        }
    }

    /// Whether two keys have the same UTF-8 bytes. Keys are bytes here, as in LMDB:
    /// two spellings of one text (a precomposed "é" and "e" with a combining accent),
    /// which `==` takes as equal, are two keys.
    @inline(__always) private static func sameBytes(_ a: String, _ b: String) -> Bool {
        let fast = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y in
                guard x.count == y.count else { return false }
                guard let p = x.baseAddress, let q = y.baseAddress else { return true }  // both empty
                return memcmp(p, q, x.count) == 0
            }
        }
        if let same = fast ?? nil { return same }
        return a.utf8.elementsEqual(b.utf8)
    }

    /// The key's hash: its UTF-8 bytes eight at a time, each word mixed in.
    static func hash(_ key: String) -> UInt64 {
        if let h = key.utf8.withContiguousStorageIfAvailable({ hash(bytes: UnsafeRawBufferPointer($0)) }) { return h }
        return Array(key.utf8).withUnsafeBytes { hash(bytes: $0) }
    }

    private static func hash(bytes: UnsafeRawBufferPointer) -> UInt64 {
        let n = bytes.count
        var h = seed ^ (UInt64(n) &* 0x9E37_79B9_7F4A_7C15)
        var i = 0
        while i + 8 <= n {
            h = mix(h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        if i < n {
            var tail: UInt64 = 0, shift: UInt64 = 0
            while i < n {
                tail |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            h = mix(h ^ tail)
        }
        return mix(h)
    }

    /// A 64-bit finaliser (multiply and xor-shift): every input bit moves every output bit.
    @inline(__always) private static func mix(_ x: UInt64) -> UInt64 {
        var z = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
