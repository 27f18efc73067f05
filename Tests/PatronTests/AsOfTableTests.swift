import LMDB
import Testing
@testable import Patron

/// ``AsOfTable`` recomputes projection columns from the event table; every column of
/// every recomputed row must equal the row a replay of that client's stream gives, on
/// one thread and in two halves of the rows.
@Suite struct AsOfTableTests {
    @Test(arguments: [5, 6, 7, 8])
    func everyColumnEqualsAReplay(seed: Int) async throws {
        var rng = SeededRandom(seed: UInt64(seed))
        let world = try await RefWorld.make(rng: &rng)
        defer { withExtendedLifetime(world) {} }
        let db = world.db
        let store = db.store
        var recomputed = 0, laterClient = 0
        try store.env.read { txn in
            let base = try ClientTable(store: store, txn: txn)
            let (events, count) = try db.eventTables.table(store: store, txn: txn)
            let ce = base.clientEvents(events: events, count: count)
            // One thread with the whole string pool looked up first, and two halves of the
            // rows on two cores with only the string ids the walk reads looked up.
            for (day, parallelAbove) in (world.asOfPool + [world.today - 400, world.today + 30]).flatMap({ [($0, Int.max), ($0, 2)] }) {
                let asOf = AsOfTable.$parallelAbove.withValue(parallelAbove) {
                    AsOfTable.$smallPool.withValue(parallelAbove == 2 ? 0 : 4096) {
                        AsOfTable.make(base: base, events: events, count: count, clientEvents: ce, day: day, tallies: true) { id in
                            (try? store.stringID(events.pool.strings[Int(id)], txn: txn)) ?? 0
                        }
                    }
                }
                let (t, kinds) = (asOf.table, asOf.kinds)
                for i in 0..<t.count {
                    let replayed = try db.replay(root: t.numbers[i], upTo: day, txn: txn)
                    switch kinds[i] {
                    case .absent:
                        #expect(replayed.eventCount == 0, "row \(t.keys[i]) on \(day) is absent but has events")
                    case .stored:
                        #expect(base.i32(.maxDay, i) <= day)
                    case .replay:
                        break
                    case .recomputed:
                        recomputed += 1
                        let later = ce.range(i).contains { j in
                            let k = Int(ce.events[j])
                            return events.type[k] == EventType.client.code && events.day[k] > day
                        }
                        if later { laterClient += 1 }
                        #expect(asOf.laterClientEvent[i] == later, "\(t.keys[i]) as of \(day): a client event after the day is \(later)")
                        let row = replayed.encodeRow()
                        row.withUnsafeBytes { b in
                            for c in ClientTable.Col32.allCases {
                                let want = UInt32(littleEndian: b.loadUnaligned(fromByteOffset: c.offset, as: UInt32.self))
                                #expect(t.u32(c, i) == want, "\(t.keys[i]) as of \(day): \(c) is \(t.u32(c, i)), a replay gives \(want)")
                            }
                            for c in ClientTable.Col64.allCases {
                                let want = Int64(littleEndian: b.loadUnaligned(fromByteOffset: c.offset, as: Int64.self))
                                // Left out of the table: computed from the client's events when asked.
                                let got = c == .repeatValueCents ? ce.repeatValueCents(i, upTo: day, events: events) : t.i64(c, i)
                                #expect(got == want, "\(t.keys[i]) as of \(day): \(c) is \(got), a replay gives \(want)")
                            }
                        }
                    }
                }
            }
        }
        #expect(recomputed > 50, "the worlds should have clients with events after the days tested")
        #expect(laterClient > 5, "the worlds should have clients whose details change after the days tested")
    }
}
