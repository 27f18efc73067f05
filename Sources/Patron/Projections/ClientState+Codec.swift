/// The fixed-size projection row: every scalar client field at a fixed offset, so a
/// scan over all clients reads them straight from the memory map without decoding.
///
/// All integers little-endian; days are ``Day`` with `Int32.min` for null; strings
/// are dictionary ids with 0 for null.
public enum ProjectionRow {
    /// Size of a row in bytes.
    public static let size = 136
    static let nullDay = Int32.min

    /// Bit flags at offset 0.
    public enum Flag {
        /// Set in every stored row; an all-zero slot of a chunk holds no client.
        public static let present: UInt32 = 1 << 31
        public static let forgotten: UInt32 = 1
        public static let merged: UInt32 = 2
        public static let member: UInt32 = 4
        public static let hasAcquisitionCost: UInt32 = 8
        public static let hasSatisfaction: UInt32 = 16
    }

    /// Byte offsets of the fields.
    public enum Offset {
        public static let flags = 0
        public static let streamVersion = 4
        public static let registered = 8
        public static let firstSeen = 12
        public static let lastSeen = 16
        public static let firstVisit = 20
        public static let lastVisit = 24
        public static let activeDays = 28
        public static let visits = 32
        public static let purchases = 36
        public static let refunds = 40
        public static let feedbackCount = 44
        public static let purchasedCents = 48
        public static let refundedCents = 56
        public static let acquisitionCost = 64
        public static let points = 72
        public static let tier = 80
        public static let plan = 84
        public static let source = 88
        public static let location = 92
        public static let provider = 96
        public static let satisfaction = 100
        public static let feedbackSum = 104
        public static let cadenceHalfDays = 108
        public static let maxDay = 112
        public static let mergedInto = 116
        public static let eventCount = 120
        /// Int64: the value of the activity days after the first, in cents.
        public static let repeatValueCents = 128
    }
}

extension ClientState {
    /// Appends the row to `row` and encodes the detail into `detail`; `mutating` (it
    /// changes nothing) only so that a state held in a class is encoded in place
    /// instead of copied first (see ``prefetchLists()``).
    mutating func encode(row: inout [UInt8], detail: inout ByteWriter) {
        encodeRow(appendingTo: &row)
        encodeDetail(into: &detail)
    }

    /// The fixed-size row (see ``ProjectionRow``).
    func encodeRow() -> [UInt8] {
        var row: [UInt8] = []
        encodeRow(appendingTo: &row)
        return row
    }

    /// Appends the fixed-size row to `rows` (many rows in one buffer, no allocation each).
    func encodeRow(appendingTo rows: inout [UInt8]) {
        let start = rows.count
        rows.append(contentsOf: repeatElement(0, count: ProjectionRow.size))
        rows.withUnsafeMutableBytes { all in
            let b = UnsafeMutableRawBufferPointer(rebasing: all[start..<(start + ProjectionRow.size)])
            func put<T: FixedWidthInteger>(_ off: Int, _ v: T) { b.storeBytes(of: v.littleEndian, toByteOffset: off, as: T.self) }
            func day(_ off: Int, _ d: Day?) { put(off, d ?? ProjectionRow.nullDay) }
            typealias O = ProjectionRow.Offset
            var flags: UInt32 = ProjectionRow.Flag.present
            if forgotten { flags |= ProjectionRow.Flag.forgotten }
            if mergedInto != 0 { flags |= ProjectionRow.Flag.merged }
            if isMember { flags |= ProjectionRow.Flag.member }
            if acquisitionCost != nil { flags |= ProjectionRow.Flag.hasAcquisitionCost }
            if satisfaction != nil { flags |= ProjectionRow.Flag.hasSatisfaction }
            put(O.flags, flags)
            put(O.streamVersion, streamVersion)
            day(O.registered, registered)
            day(O.firstSeen, activityDays.first)
            day(O.lastSeen, activityDays.last)
            day(O.firstVisit, firstVisit)
            day(O.lastVisit, lastVisit)
            put(O.activeDays, activeDays)
            put(O.visits, visits)
            put(O.purchases, purchases)
            put(O.refunds, refunds)
            put(O.feedbackCount, feedbackCount)
            put(O.purchasedCents, purchasedCents)
            put(O.refundedCents, refundedCents)
            put(O.acquisitionCost, acquisitionCost?.value ?? 0)
            put(O.points, points)
            put(O.tier, tier?.value ?? 0)
            put(O.plan, plan ?? 0)
            put(O.source, source?.value ?? 0)
            put(O.location, location ?? 0)
            put(O.provider, provider ?? 0)
            put(O.satisfaction, UInt32(truncatingIfNeeded: satisfaction?.value ?? 0))
            put(O.feedbackSum, UInt32(truncatingIfNeeded: feedbackSum))
            put(O.cadenceHalfDays, cadenceHalfDays ?? -1)
            day(O.maxDay, maxDay)
            put(O.mergedInto, mergedInto)
            put(O.eventCount, eventCount)
            put(O.repeatValueCents, repeatValueCents)
        }
    }

    /// The variable part: stamps of latest-wins values, activity days, tallies, sets.
    func encodeDetail() -> [UInt8] {
        var w = ByteWriter(capacity: 128)
        encodeDetail(into: &w)
        return w.bytes
    }

    /// Encodes the variable part into `w`, replacing what it held (its storage is kept).
    func encodeDetail(into w: inout ByteWriter) {
        w.bytes.removeAll(keepingCapacity: true)
        func stamped(_ s: Stamped<UInt32>?) {
            guard let s else { return w.u8(0) }
            w.u8(1); w.svarint(s.stamp.at); w.varint(s.stamp.position); w.varint(UInt64(s.value))
        }
        func stampedSigned(_ s: Stamped<Int64>?) {
            guard let s else { return w.u8(0) }
            w.u8(1); w.svarint(s.stamp.at); w.varint(s.stamp.position); w.svarint(s.value)
        }
        w.varint(UInt64(streamVersion))
        w.varint(streamHead)
        w.varint(UInt64(eventCount))
        w.u8(forgotten ? 1 : 0)
        w.varint(UInt64(mergedInto))
        w.varint(UInt64(members.count))
        for m in members { w.varint(UInt64(m)) }
        // One by one, not through an array literal: no allocation per state.
        w.optionalSigned(registered.map(Int64.init)); w.optionalSigned(firstVisit.map(Int64.init))
        w.optionalSigned(lastVisit.map(Int64.init)); w.optionalSigned(maxDay.map(Int64.init))
        w.varint(UInt64(visits)); w.varint(UInt64(purchases)); w.varint(UInt64(refunds))
        w.svarint(purchasedCents); w.svarint(refundedCents); w.svarint(points)
        w.varint(UInt64(feedbackCount)); w.svarint(feedbackSum)
        stamped(name); stamped(email); stamped(phone)
        stamped(clientLocation); stamped(source); stampedSigned(acquisitionCost)
        stamped(tier); stamped(membership); stampedSigned(satisfaction)
        w.varint(UInt64(activityDays.count))
        var previous: Int64 = 0
        for d in activityDays { w.svarint(Int64(d) - previous); previous = Int64(d) }
        w.svarint(activityValueCents); w.svarint(firstDayValueCents)
        w.varint(UInt64(strayRefunds.count))
        previous = 0
        for r in strayRefunds { w.svarint(Int64(r.day) - previous); w.svarint(r.cents); previous = Int64(r.day) }
        func tallies(_ t: Tallies) {
            w.varint(UInt64(t.entries.count))
            for e in t.entries {
                w.varint(UInt64(e.id)); w.varint(UInt64(e.tally.count)); w.svarint(e.tally.last.at); w.varint(e.tally.last.position)
            }
        }
        func set(_ s: IDSet) {
            w.varint(UInt64(s.count))
            for v in s.ids { w.varint(UInt64(v)) }
        }
        tallies(visitLocations); tallies(providers)
        set(services); set(items); set(categories)
    }

    /// Decodes what ``encodeDetail()`` wrote.
    init(detail: UnsafeRawBufferPointer) throws(CorruptData) {
        var r = ByteReader(detail)
        func u32() throws(CorruptData) -> UInt32 { UInt32(truncatingIfNeeded: try r.varint()) }
        func stamped() throws(CorruptData) -> Stamped<UInt32>? {
            guard try r.u8() != 0 else { return nil }
            let at = try r.svarint(), pos = try r.varint()
            return Stamped(stamp: Stamp(at: at, position: pos), value: try u32())
        }
        func stampedSigned() throws(CorruptData) -> Stamped<Int64>? {
            guard try r.u8() != 0 else { return nil }
            let at = try r.svarint(), pos = try r.varint()
            return Stamped(stamp: Stamp(at: at, position: pos), value: try r.svarint())
        }
        func day() throws(CorruptData) -> Day? { try r.optionalSigned().map { Day(truncatingIfNeeded: $0) } }
        self.init()
        streamVersion = try u32()
        streamHead = try r.varint()
        eventCount = try u32()
        forgotten = try r.u8() != 0
        mergedInto = try u32()
        let memberCount = try r.count()
        for _ in 0..<memberCount { members.append(try u32()) }
        registered = try day(); firstVisit = try day(); lastVisit = try day(); maxDay = try day()
        visits = try u32(); purchases = try u32(); refunds = try u32()
        purchasedCents = try r.svarint(); refundedCents = try r.svarint(); points = try r.svarint()
        feedbackCount = try u32(); feedbackSum = try r.svarint()
        name = try stamped(); email = try stamped(); phone = try stamped()
        clientLocation = try stamped(); source = try stamped(); acquisitionCost = try stampedSigned()
        tier = try stamped(); membership = try stamped(); satisfaction = try stampedSigned()
        let dayCount = try r.count()
        activityDays.reserveCapacity(dayCount)
        var previous: Int64 = 0
        for _ in 0..<dayCount {
            previous += try r.svarint()
            activityDays.append(Day(truncatingIfNeeded: previous))
        }
        activityValueCents = try r.svarint(); firstDayValueCents = try r.svarint()
        let strayCount = try r.count()
        previous = 0
        for _ in 0..<strayCount {
            previous += try r.svarint()
            let day = Day(truncatingIfNeeded: previous)
            guard strayRefunds.last.map({ $0.day < day }) ?? true else { throw CorruptData("client detail: refunds out of order") }
            strayRefunds.append(DayAmount(day: day, cents: try r.svarint()))
        }
        for which in 0..<2 {
            let n = try r.count()
            var entries: [Tallies.Entry] = []
            entries.reserveCapacity(n)
            for _ in 0..<n {
                let k = try u32(), c = try u32(), at = try r.svarint(), pos = try r.varint()
                guard entries.last.map({ $0.id < k }) ?? true else { throw CorruptData("client detail: tallies out of order") }
                entries.append(Tallies.Entry(id: k, tally: Tally(count: c, last: Stamp(at: at, position: pos))))
            }
            if which == 0 { visitLocations = Tallies(sorted: entries) } else { providers = Tallies(sorted: entries) }
        }
        for which in 0..<3 {
            let n = try r.count()
            var ids: [UInt32] = []
            ids.reserveCapacity(n)
            for _ in 0..<n {
                let id = try u32()
                guard ids.last.map({ $0 < id }) ?? true else { throw CorruptData("client detail: a set out of order") }
                ids.append(id)
            }
            switch which {
            case 0: services = IDSet(sorted: ids)
            case 1: items = IDSet(sorted: ids)
            default: categories = IDSet(sorted: ids)
            }
        }
        guard r.atEnd else { throw CorruptData("stray bytes after a client detail record") }
    }
}
