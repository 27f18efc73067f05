import LMDB
import Testing
@testable import Patron

/// The event table read in one pass, in two halves on two cores, and extended as the
/// log grows, holds the same events.
@Suite struct EventTableTests {
    /// Every event as the table holds it, strings resolved (ids differ between reads).
    static func rows(_ t: EventTable, count: Int) -> [String] {
        (0..<count).map { k in
            let services = t.serviceRange(k).map { t.string(t.services[$0]) ?? "-" }
            let items = t.items(k).map { j in
                "\(t.string(t.itemName[j]) ?? "-")/\(t.string(t.itemCategory[j]) ?? "-")/\(t.itemQuantity[j])/\(t.itemAmount[j])/\(t.itemEvent[j])"
            }
            return "\(t.type[k]) \(t.day[k]) \(t.at[k]) \(t.client[k]) \(t.num[k]) \(t.string(t.s0[k]) ?? "-") \(t.string(t.s1[k]) ?? "-") \(t.string(t.s2[k]) ?? "-") \(services) \(items)"
        }
    }

    static func read(_ db: Database, parallelAbove: Int, base: EventTable? = nil) throws -> EventTable {
        try db.store.env.read { txn in
            try EventTable.$parallelAbove.withValue(parallelAbove) {
                try EventTable.read(store: db.store, txn: txn, logCount: try txn.count(db.store.schema.log), base: base)
            }
        }
    }

    @Test(arguments: [3, 4])
    func halvesAndExtensionsEqualOnePass(seed: Int) async throws {
        var rng = SeededRandom(seed: UInt64(seed))
        let world = try await RefWorld.make(rng: &rng)
        defer { withExtendedLifetime(world) {} }
        let one = try Self.read(world.db, parallelAbove: Int.max)
        let two = try Self.read(world.db, parallelAbove: 1)
        #expect(one.count > 100)
        #expect(two.count == one.count)
        #expect(Self.rows(two, count: two.count) == Self.rows(one, count: one.count))

        // Extend with more events: the extended table equals a fresh read.
        let more = RandomHistory.events(count: 200, clients: 20, rng: &rng)
        _ = try await world.db.append(more)
        let extended = try Self.read(world.db, parallelAbove: 1, base: one)
        let fresh = try Self.read(world.db, parallelAbove: Int.max)
        #expect(extended.count == one.count + 200)
        #expect(Self.rows(extended, count: extended.count) == Self.rows(fresh, count: fresh.count))

        // Each type's index lists exactly that type's events, ascending, in a copy too.
        for table in [one, extended] {
            for type in EventType.allCases {
                let want = (0..<table.count).filter { table.type[$0] == type.code }.map { UInt32($0) }
                #expect(table.indexes(ofType: type.code) == want, "\(type)")
                #expect(table.indexes(ofType: type.code) == want, "\(type), asked again")
            }
        }
    }
}
