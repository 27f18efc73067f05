// A small Swift program that links Patron: opens a database, appends typed events
// (one batch, one with an expected stream version), reads a client's projection
// and stream, and follows the log with a subscription.
//
//   swift run patron-example /tmp/demo.patron
import Foundation
import Patron

let path = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "demo.patron"
for suffix in ["", "-lock", "-keys"] { try? FileManager.default.removeItem(atPath: path + suffix) }
let db = try Database(path: path)

let at = { (text: String) throws -> Int64 in try Event.instant(text) }
try await db.append([
    Event(id: "reg-1", client: "C-1", at: try at("2025-01-10"),
          payload: .client(ClientDetails(name: "Ava Lind", email: "ava@example.com", source: "instagram"))),
    Event(client: "C-1", at: try at("2025-01-10T10:00"), payload: .visit(Visit(provider: "Dr. Kim", services: ["botox"]))),
    Event(client: "C-1", at: try at("2025-01-10T10:40"), payload: .purchase(Purchase(amount: Money(dollars: 450)))),
    Event(client: "C-1", at: try at("2025-03-02T15:00"), payload: .visit(Visit(provider: "Dr. Kim", services: ["botox", "peel"]))),
])
// Optimistic concurrency: this append succeeds only if C-1's stream still holds 4 events.
try await db.append(Event(client: "C-1", at: try at("2025-03-02T15:30"), payload: .tier(TierChange(tier: "gold"))),
                    expectedVersion: 4)
// Re-appending an id already stored is a no-op.
let again = try await db.append([Event(id: "reg-1", client: "C-1", at: try at("2025-01-10"), payload: .client(ClientDetails()))])
print("re-append of reg-1: \(again.duplicates) duplicate")

if let c = try db.client("C-1", today: Calendar.day(year: 2025, month: 4, day: 1).asDay) {
    print("\(c.id) \(c.name ?? "-"): \(c.visits) visits, spend \(c.spend), tier \(c.tier ?? "-"), lapsed \(c.lapsed ?? 0)d, cadence \(c.cadence ?? 0)d")
}
print("stream of C-1:", try db.stream("C-1").map { "\($0.position):\($0.event.type.rawValue)" }.joined(separator: " "))

// Catch up from position 4, then stop.
var followed: [UInt64] = []
for try await e in db.subscribe(from: 4) {
    followed.append(e.position)
    if followed.count == 2 { break }
}
print("subscription from 4:", followed)

extension Int {
    var asDay: Day { Day(self) }
}
