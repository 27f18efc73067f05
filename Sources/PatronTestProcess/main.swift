// A helper process for Patron's crash-safety and multi-process tests.
//
//   patron-testproc append PATH BATCHES BATCH_SIZE [CLIENTS]
//
// Appends BATCHES batches of BATCH_SIZE events (ids "b<k>-<i>") spread over CLIENTS
// clients, printing "committed <k>" after each commit. Tests kill it with SIGKILL
// at random moments and check that only whole batches survived.
import Foundation
import Patron

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(2)
}

let args = CommandLine.arguments
guard args.count >= 5, args[1] == "append", let batches = Int(args[3]), let size = Int(args[4]) else {
    fail("usage: patron-testproc append PATH BATCHES BATCH_SIZE [CLIENTS]")
}
let clients = args.count > 5 ? Int(args[5]) ?? 50 : 50
do {
    let db = try Database(path: args[2])
    let start = Int(try db.lastPosition) / size
    let day: Int64 = 86_400_000
    for k in start..<(start + batches) {
        var events: [Event] = []
        for i in 0..<size {
            let client = "client-\((k * size + i) % clients)"
            let at = Int64(19_000 + (k * 7 + i * 13) % 700) * day
            let payload: Payload = i % 3 == 0
                ? .visit(Visit(location: "Loc\(i % 4)", provider: "Prov\(i % 5)", services: ["svc\(i % 6)"]))
                : .purchase(Purchase(amount: Money(cents: Int64(1000 + i)), items: [PurchaseItem(name: "item\(i % 7)", category: "cat\(i % 3)", amount: Money(cents: Int64(1000 + i)))]))
            events.append(Event(id: "b\(k)-\(i)", client: client, at: at, payload: payload))
        }
        try db.appendAndWait(events)
        FileHandle.standardOutput.write(Data("committed \(k)\n".utf8))
    }
} catch {
    fail("patron-testproc: \(error)")
}
