import LMDB

/// A client's fixed-size projection row read in place from the memory map (see
/// ``ProjectionRow``): no copy, no decoding beyond the fields you touch.
///
/// Valid only inside the ``Database/scanClientRows(_:)`` callback: copy what you keep.
public struct ClientRowView {
    /// The raw row bytes.
    public let bytes: UnsafeRawBufferPointer

    @inline(__always) func int<T: FixedWidthInteger>(_ offset: Int) -> T { T(littleEndian: bytes.load(at: offset)) }
    @inline(__always) func day(_ offset: Int) -> Day? {
        let d: Int32 = int(offset)
        return d == ProjectionRow.nullDay ? nil : d
    }

    /// Flags (``ProjectionRow/Flag``).
    public var flags: UInt32 { int(ProjectionRow.Offset.flags) }
    /// Whether the client was merged into another (its facts count there).
    public var isMerged: Bool { flags & ProjectionRow.Flag.merged != 0 }
    public var visits: Int { Int(int(ProjectionRow.Offset.visits) as UInt32) }
    public var purchases: Int { Int(int(ProjectionRow.Offset.purchases) as UInt32) }
    public var activeDays: Int { Int(int(ProjectionRow.Offset.activeDays) as UInt32) }
    /// Purchases minus refunds, in cents.
    public var spendCents: Int64 { int(ProjectionRow.Offset.purchasedCents) - (int(ProjectionRow.Offset.refundedCents) as Int64) }
    public var firstSeen: Day? { day(ProjectionRow.Offset.firstSeen) }
    public var lastSeen: Day? { day(ProjectionRow.Offset.lastSeen) }
    /// The latest day of any of the client's events (nil when none).
    public var maxDay: Day? { day(ProjectionRow.Offset.maxDay) }
    /// Dictionary id of the tier (0 when none).
    public var tierID: UInt32 { int(ProjectionRow.Offset.tier) }
}

extension Database {
    /// Calls `body` with every client's projection row, in client-number order, in one
    /// snapshot, reading straight from the memory map.
    ///
    /// The body runs inside a read transaction: do not append from it (growing the
    /// map waits for this process's readers to finish, so the append would wait forever).
    public func scanClientRows(_ body: (UInt32, ClientRowView) throws -> Void) throws {
        try store.env.read { txn in
            try RowChunks.forEach(table: store.schema.rows, txn: txn) { n, row in try body(n, ClientRowView(bytes: row)) }
        }
    }
}
