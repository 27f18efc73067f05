// An app linking Patron: append typed events, then ask a question in the query
// language and read typed values back.
import Foundation
import Patron

let path = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "swift-client.patron"
for suffix in ["", "-lock", "-keys"] { try? FileManager.default.removeItem(atPath: path + suffix) }
let db = try Database(path: path)

let day = { (text: String) throws -> Int64 in try Event.instant(text) }
try await db.append([
    Event(client: "C-1", at: try day("2025-01-10"), payload: .client(ClientDetails(name: "Ava Lind", source: "instagram"))),
    Event(client: "C-1", at: try day("2025-01-10"), payload: .purchase(Purchase(amount: Money(dollars: 450)))),
    Event(client: "C-1", at: try day("2025-02-20"), payload: .tier(TierChange(tier: "gold"))),
    Event(client: "C-2", at: try day("2025-03-01"), payload: .purchase(Purchase(amount: Money(dollars: 120)))),
])

let today = Day(Calendar.day(year: 2025, month: 6, day: 30))
let result = try db.query("clients where lapsed > $days show id, name, tier, spend, lapsed sort by spend desc",
                          parameters: ["days": .duration(90)], today: today)
print(result.rendered(as: .table))
for row in result.rows {
    if case .string(let id) = row[0], case .money(let spend) = row[3] {
        print("\(id) has spent \(ValueFormat.money(spend))")
    }
}
