import LMDB

/// Writes a commit's changed client details (the `details` table), in ascending
/// client order, one of two ways.
///
/// - In place: each changed client's detail is put under its number.
/// - Rewritten: when a commit changes a large share of the clients, the table is
///   emptied and every client's detail appended at its right edge (`MDB_APPEND`) in
///   key order: the changed ones from the commit, the others copied from the snapshot
///   the write transaction started from (a read transaction beside it).
///
/// A rewrite leaves full pages. Details put in place grow and split their pages in the
/// middle, which left the table about 55 % full after an import, and a page holds only
/// a dozen clients, so a commit that changes a quarter of them rewrites nearly every
/// page anyway: the rewrite writes fewer pages for the same commit, and the commits
/// after it start from a smaller table.
struct DetailsWriter: ~Copyable {
    private let txn: Transaction
    private let table: Table
    private let old: Cursor?
    /// The table's write cursor while it is rewritten: it stays at the right edge,
    /// where a put without one (`mdb_put`) descends from the root for every client.
    private let out: Cursor?
    /// The next entry of the snapshot not copied or replaced yet (rewrite only).
    private var pending: Cursor.Entry?
    private let step: (() -> Void)?

    /// Rewrite when a commit changes at least one in this many of the stored details.
    static let rewriteShare = 4
    /// and at least this many (a small table is cheap to update in place).
    static let rewriteFrom = 4_096

    /// Whether a commit changing `changed` of the `stored` details rewrites the table.
    static func rewrites(changed: Int, stored: Int) -> Bool {
        changed >= rewriteFrom && changed * rewriteShare >= stored
    }

    /// Runs `body` once with a writer that puts details in place, or, with `env`,
    /// rewrites the table from the snapshot of that environment's last commit — which
    /// must be what `txn` holds in `table` so far (no detail written in it yet). When
    /// every reader slot is taken (the snapshot needs one), the details go in place.
    /// `step`, when given, is called after each detail written or copied.
    static func write<R>(table: Table, txn: Transaction, rewritingFrom env: Environment?, step: (() -> Void)?,
                         _ body: (inout DetailsWriter) throws -> R) throws -> R {
        func inPlace() throws -> R {
            var w = DetailsWriter(txn: txn, table: table, old: nil, out: nil, step: step)
            return try body(&w)
        }
        guard let env else { return try inPlace() }
        var began = false
        do {
            return try env.readBesideWrite { snapshot in
                began = true
                return try snapshot.withCursor(table) { cursor in
                    let first = try cursor.first()
                    try txn.empty(table)
                    return try txn.withCursor(table) { out in
                        var w = DetailsWriter(txn: txn, table: table, old: cursor, out: out, step: step)
                        w.pending = first
                        let result = try body(&w)
                        try w.copyOld(below: nil)
                        return result
                    }
                }
            }
        } catch let error as LMDBError where !began && error.code == LMDBError.readersFull {
            // Nothing is emptied yet.
            return try inPlace()
        }
    }

    private init(txn: Transaction, table: Table, old: Cursor?, out: Cursor?, step: (() -> Void)?) {
        self.txn = txn
        self.table = table
        self.old = old
        self.out = out
        self.step = step
    }

    /// Appends `client`'s detail at the table's right edge.
    private func append(_ client: UInt32, _ detail: UnsafeRawBufferPointer) throws {
        guard let out else { return try txn.put(table, key: client, value: detail, flags: .append) }
        try out.put(key: client, value: detail, flags: .append)
    }

    /// Writes the detail of `client`; clients come in ascending order.
    mutating func put(_ client: UInt32, _ detail: UnsafeRawBufferPointer) throws {
        guard old != nil else {
            try txn.put(table, key: client, value: detail)
            step?()
            return
        }
        try copyOld(below: client)
        if let (k, _) = pending, k.load(at: 0) as UInt32 == client { pending = try old?.next() }
        try append(client, detail)
        step?()
    }

    /// Copies the snapshot's entries of clients below `limit` (all when nil).
    private mutating func copyOld(below limit: UInt32?) throws {
        while let (k, v) = pending {
            let client: UInt32 = k.load(at: 0)
            if let limit, client >= limit { return }
            try append(client, v)
            step?()
            pending = try old?.next()
        }
    }
}
