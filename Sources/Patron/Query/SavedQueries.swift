import Foundation
import LMDB

/// Saved queries (SPEC 3.9) live in the `meta` table as their own small event
/// stream: every `save` and `drop` appends an entry under `query-log:<seq>` (kept for
/// good, so a saved query's history survives), and `query:<name>` holds the current
/// text. They stay out of the client event log, so `events` queries and exports only
/// ever show client facts.
extension Database {
    private static let currentPrefix = "query:"
    private static let logPrefix = "query-log:"

    /// A saved query by name, or nil.
    public func savedQuery(_ name: String) throws -> SavedQuery? {
        try store.env.read { txn in
            guard let v = try txn.get(store.schema.meta, key: Self.currentPrefix + name) else { return nil }
            return SavedQuery(name: name, text: String(decoding: v, as: UTF8.self))
        }
    }

    /// Every saved query, by name.
    public func savedQueries() throws -> [SavedQuery] {
        try store.env.read { txn in
            var out: [SavedQuery] = []
            try txn.withCursor(store.schema.meta) { c in
                let prefix = Array(Self.currentPrefix.utf8)
                var entry = try prefix.withUnsafeBytes { try c.seek($0) }
                while let (k, v) = entry, k.starts(with: prefix) {
                    let name = String(decoding: k.dropFirst(prefix.count), as: UTF8.self)
                    out.append(SavedQuery(name: name, text: String(decoding: v, as: UTF8.self)))
                    entry = try c.next()
                }
            }
            return out
        }
    }

    /// The history of saves and drops, oldest first: (action, name, text, recorded ms).
    public func savedQueryHistory() throws -> [(action: String, name: String, text: String, recorded: Int64)] {
        try store.env.read { txn in
            var out: [(String, String, String, Int64)] = []
            try txn.withCursor(store.schema.meta) { c in
                let prefix = Array(Self.logPrefix.utf8)
                var entry = try prefix.withUnsafeBytes { try c.seek($0) }
                while let (k, v) = entry, k.starts(with: prefix) {
                    var r = ByteReader(v, offset: 0)
                    let action = try r.u8() == 1 ? "save" : "drop"
                    let recorded = try r.svarint()
                    let name = String(decoding: try r.bytes(try r.count()), as: UTF8.self)
                    let text = String(decoding: try r.bytes(try r.count()), as: UTF8.self)
                    out.append((action, name, text, recorded))
                    entry = try c.next()
                }
            }
            return out
        }
    }

    /// Saves (or replaces) a query under `name`. The text must parse as a query.
    public func saveQuery(_ name: String, _ text: String) throws {
        try Self.checkName(name)
        guard case .query = try Parser.statement(text) else {
            throw PatronError.invalidArgument("only a query can be saved (an entity with its clauses), not \"\(text)\"")
        }
        try writeQueryEntry(action: 1, name: name, text: text)
    }

    /// Drops a saved query (its history stays).
    public func dropQuery(_ name: String) throws {
        guard try savedQuery(name) != nil else { throw PatronError.invalidArgument("no saved query named \"\(name)\"") }
        try writeQueryEntry(action: 2, name: name, text: "")
    }

    private static func checkName(_ name: String) throws {
        if let problem = SavedQuery.nameProblem(name) { throw PatronError.invalidArgument(problem) }
    }

    private func writeQueryEntry(action: UInt8, name: String, text: String) throws {
        if store.readOnly { throw PatronError.readOnly(action == 1 ? "save" : "drop") }
        try store.env.write { txn in
            var seq: UInt64 = 1
            try txn.withCursor(store.schema.meta) { c in
                // The last log key: seek past the prefix range and step back.
                let after = Array((Self.logPrefix.dropLast() + ";").utf8)
                let entry = try after.withUnsafeBytes { try c.seek($0) }
                let last = entry == nil ? try c.last() : try c.previous()
                let prefix = Array(Self.logPrefix.utf8)
                if let (k, _) = last, k.starts(with: prefix), k.count == prefix.count + 8 {
                    seq = k.dropFirst(prefix.count).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } + 1
                }
            }
            var key = Array(Self.logPrefix.utf8)
            for s in stride(from: 56, through: 0, by: -8) { key.append(UInt8(truncatingIfNeeded: seq >> UInt64(s))) }
            var w = ByteWriter(capacity: 64 + text.utf8.count)
            w.u8(action)
            w.svarint(Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
            w.string(name)
            w.string(text)
            try key.withUnsafeBytes { k in try w.bytes.withUnsafeBytes { v in try txn.put(store.schema.meta, key: k, value: v) } }
            if action == 1 {
                try txn.put(store.schema.meta, key: Self.currentPrefix + name, value: Array(text.utf8))
            } else {
                _ = try Array((Self.currentPrefix + name).utf8).withUnsafeBytes { try txn.delete(store.schema.meta, key: $0) }
            }
        }
    }
}

extension SavedQuery {
    /// Why `name` cannot name a saved query, or nil when it can.
    static func nameProblem(_ name: String) -> String? {
        let ok = !name.isEmpty && name.utf8.count <= 64 && name.unicodeScalars.allSatisfy {
            ($0.isASCII && CharacterSet.alphanumerics.contains($0)) || $0 == "_"
        } && !(name.first?.isNumber ?? true)
        return ok ? nil : "invalid saved query name \"\(name)\": use letters, digits and _ (at most 64 bytes), starting with a letter"
    }

    /// A saved query; its parameters are read from the text.
    init(name: String, text: String) {
        self.name = name
        self.text = text
        var params: [(String, String?)] = []
        if case .query(let q)? = try? Parser.statement(text) {
            var seen = Set<String>()
            let b = Array(text.utf8)
            // Depth-first, left to right, with an explicit stack (chains can be long).
            func visit(_ root: Expr?) {
                var stack: [Expr] = root.map { [$0] } ?? []
                while let e = stack.popLast() {
                    var children: [Expr] = []
                    switch e.kind {
                    case .parameter(let n, let d):
                        if seen.insert(n).inserted {
                            params.append((n, d.map { String(decoding: b[$0.range.start..<$0.range.end], as: UTF8.self) }))
                        }
                    case .not(let x), .negate(let x), .isNull(let x, _): children = [x]
                    case .binary(_, let x, let y), .contains(let x, let y, _), .inLast(let x, let y, _): children = [x, y]
                    case .inList(let x, let items, _): children = [x] + items
                    case .between(let x, let y, let z, _): children = [x, y, z]
                    case .call(_, let args): children = args
                    case .scoped(_, _, _, let c), .has(_, _, let c): children = c.map { [$0] } ?? []
                    default: break
                    }
                    stack.append(contentsOf: children.reversed())
                }
            }
            visit(q.filter)
            q.groupBy.forEach(visit)
            q.show.forEach { visit($0.expr) }
            q.sortBy.forEach { visit($0.expr) }
            visit(q.top?.by)
            visit(q.asOf)
        }
        parameters = params.map { (name: $0.0, defaultText: $0.1) }
    }
}
