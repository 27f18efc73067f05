import LMDB
import Synchronization

/// Event ids for events appended without one, each naming its own position in the log
/// so that it needs no entry in the `ids` index (``Schema/positionOfAssignedID(_:txn:)``).
///
/// 26 characters of Crockford base32, like a ULID, holding 130 bits: the marker `01`,
/// 48 bits of milliseconds, the 40-bit position, and 40 random bits drawn again each
/// millisecond. The marker makes the first character `8`–`F`, where a ULID's (and the
/// ids of format 3, whose index held every id) is `0`–`7` until the year 10889.
/// Unique within the database by the position; across databases by the time and the
/// random bits. One generator's ids increase (by time, then position), except after
/// positions were given up (a transaction dropped, an import undone): then new random
/// bits are drawn, so that the events written at those positions again get other ids.
final class EventIDGenerator: Sendable {
    fileprivate struct State { var lastMs: Int64 = 0, random: UInt64 = 0, lastPosition: UInt64 = 0 }
    private let state = Mutex(State())

    /// The id of the event appended at `position` at `now` (milliseconds).
    func next(now: Int64, position: UInt64) -> GeneratedID {
        state.withLock { s in
            if now > s.lastMs || position <= s.lastPosition {
                s.lastMs = max(now, s.lastMs)
                var rng = SystemRandomNumberGenerator()
                s.random = UInt64.random(in: 0...GeneratedID.randomMask, using: &rng)
            }
            s.lastPosition = position
            return GeneratedID(ms: s.lastMs, position: position, random: s.random)
        }
    }

    /// Notes that ids up to the one at `position` were made from the bits ``next(now:position:)``
    /// gave for an earlier position of the same transaction (as it would have given
    /// them): a later position at or before this one gets new random bits.
    func handedOut(through position: UInt64) {
        state.withLock { $0.lastPosition = position }
    }
}

/// An id ``EventIDGenerator`` assigned, as its 128 bits (milliseconds, position,
/// random), spelled out only where its text is needed.
struct GeneratedID: Sendable, Equatable {
    /// Milliseconds (48 bits), then the top 16 bits of the position.
    var high: UInt64
    /// The low 24 bits of the position, then 40 random bits.
    var low: UInt64

    /// No id (a generated one always has milliseconds).
    static let none = GeneratedID(high: 0, low: 0)

    /// Characters of the text.
    static let length = 26
    /// Positions from 2⁴⁰ on do not fit: their ids go into the index like given ones.
    static let positionLimit: UInt64 = 1 << 40
    static let randomMask: UInt64 = (1 << 40) - 1

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    init(ms: Int64, position: UInt64, random: UInt64) {
        let p = position & (Self.positionLimit - 1)
        high = (UInt64(truncatingIfNeeded: ms) << 16) | (p >> 24)
        low = (p << 40) | (random & Self.randomMask)
    }

    /// Its milliseconds.
    var ms: Int64 { Int64(high >> 16) }
    /// Its random bits.
    var random: UInt64 { low & Self.randomMask }

    /// The position the id names (only its low 40 bits, for a position past the limit).
    var position: UInt64 { ((high & 0xFFFF) << 24) | (low >> 40) }

    /// Whether the id names `position` (then it needs no entry in the index).
    func locates(_ position: UInt64) -> Bool { position < Self.positionLimit && self.position == position }

    /// Crockford's base32 digits, read through the literal's pointer: no array (its
    /// once-token, bounds checks) and no branch per digit (the digits are random, so a
    /// choice between words mispredicts about every other time).
    private static let alphabet: StaticString = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

    /// The text: the marker and the 128 bits as 26 base32 digits.
    var text: String {
        String(unsafeUninitializedCapacity: Self.length) { out in
            write(into: UnsafeMutableRawBufferPointer(out))
            return Self.length
        }
    }

    private func write(into out: UnsafeMutableRawBufferPointer) {
        var low = self.low, top = high
        let digits = Self.alphabet.utf8Start
        for i in stride(from: Self.length - 1, through: 1, by: -1) {
            out[i] = digits[Int(low & 31)]
            low = (low >> 5) | ((top & 31) << 59)
            top >>= 5
        }
        // The first digit holds the top 3 bits under the marker's 1.
        out[0] = digits[Int((low & 7) | 8)]
    }

    /// The id `text` spells, if it is spelled as ``text`` spells one (upper case, the
    /// marker first); nil for any other id.
    init?(text: UnsafeRawBufferPointer) {
        guard text.count == Self.length else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        for (i, c) in text.enumerated() {
            guard let d = Self.digit(c), i > 0 || d & 24 == 8 else { return nil }
            high = (high << 5) | (low >> 59)
            low = (low << 5) | UInt64(i == 0 ? d & 7 : d)
        }
        self.init(high: high, low: low)
    }

    /// The value of one of Crockford's digits as ``text`` writes them.
    private static func digit(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "Z"):
            // A–Z less I, L, O and U.
            let skipped: UInt8 = c > UInt8(ascii: "U") ? 4 : c > UInt8(ascii: "O") ? 3 : c > UInt8(ascii: "L") ? 2 : c > UInt8(ascii: "I") ? 1 : 0
            if c == UInt8(ascii: "I") || c == UInt8(ascii: "L") || c == UInt8(ascii: "O") || c == UInt8(ascii: "U") { return nil }
            return c - UInt8(ascii: "A") + 10 - skipped
        default: return nil
        }
    }

    /// Calls `body` with the UTF-8 text of `id` in stack memory, or with nil for no id.
    static func withText<R>(of id: GeneratedID?, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let id else { return try body(nil) }
        return try id.withText { try body($0) }
    }

    /// Calls `body` with the UTF-8 text of this id in stack memory.
    func withText<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var buffer: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        return try withUnsafeMutableBytes(of: &buffer) { b in
            let text = UnsafeMutableRawBufferPointer(rebasing: b[0..<Self.length])
            write(into: text)
            return try body(UnsafeRawBufferPointer(text))
        }
    }
}

/// The ids one transaction has assigned, as runs of consecutive positions whose ids
/// share their milliseconds and random bits (an id per position would take 16 bytes
/// of fresh memory per event).
struct AssignedRuns {
    private var runs: [(first: UInt64, end: UInt64, ms: Int64, random: UInt64)] = []

    /// Records that the event at `position` was given `id`; positions only increase.
    mutating func record(_ id: GeneratedID, at position: UInt64) {
        let ms = id.ms, random = id.random
        if let last = runs.last, last.end == position, last.ms == ms, last.random == random {
            runs[runs.count - 1].end += 1
        } else {
            runs.append((position, position + 1, ms, random))
        }
    }

    /// Whether `id` is the one recorded for the position it names.
    func contains(_ id: GeneratedID) -> Bool {
        let p = id.position
        // The last run that starts at or before `p`.
        var lo = 0, hi = runs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if runs[mid].first <= p { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return false }
        let run = runs[lo - 1]
        return p < run.end && GeneratedID(ms: run.ms, position: p, random: run.random) == id
    }
}

extension Schema {
    /// The position of the event whose id `id` is, when `id` is one this database
    /// assigned (``GeneratedID``): the log holds it at the position it names. Such an
    /// id has no entry in the `ids` index.
    func positionOfAssignedID(_ id: UnsafeRawBufferPointer, txn: Transaction) throws -> UInt64? {
        guard let assigned = GeneratedID(text: id) else { return nil }
        let p = assigned.position
        guard let record = try txn.get(log, key: p), let stored = EventCodec.storedID(record),
              stored.matches(id, position: p) else { return nil }
        return p
    }

    /// Whether `id`, stored at `position`, is an assigned id naming that position: the
    /// `ids` index then holds no entry for it.
    static func locatesItself(_ id: String, at position: UInt64) -> Bool {
        var key = id
        return key.withUTF8 { GeneratedID(text: UnsafeRawBufferPointer($0))?.locates(position) ?? false }
    }
}
