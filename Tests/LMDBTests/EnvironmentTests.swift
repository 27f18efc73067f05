import Foundation
import Testing
@testable import LMDB

private func tempPath() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("lmdb-test-\(UUID().uuidString)").path
}

private func cleanup(_ path: String) {
    for p in [path, path + "-lock"] { try? FileManager.default.removeItem(atPath: p) }
}

@Suite struct EnvironmentTests {
    @Test func putGetCursorAndNotFound() throws {
        let path = tempPath()
        defer { cleanup(path) }
        let env = try Environment(path: path)
        let t = try env.openTables([("t", [.integerKey])])[0]
        try env.write { txn in
            for k in UInt64(1)...100 { try txn.put(t, key: k, value: [UInt8(k)], flags: .append) }
        }
        try env.read { txn in
            #expect(try txn.get(t, key: UInt64(7)).map { Array($0) } == [7])
            #expect(try txn.get(t, key: UInt64(1000)) == nil)
            #expect(try txn.count(t) == 100)
            let keys: [UInt64] = try txn.withCursor(t) { c in
                var out: [UInt64] = []
                var e = try c.seek(UInt64(95))
                while let (k, _) = e { out.append(k.load(at: 0)); e = try c.next() }
                return out
            }
            #expect(keys == [95, 96, 97, 98, 99, 100])
        }
    }

    @Test func dropNamedDeletesATableAndIgnoresAMissingOne() throws {
        let path = tempPath()
        defer { cleanup(path) }
        do {
            let env = try Environment(path: path)
            let t = try env.openTables([("old", [.integerKey]), ("kept", [])])[0]
            try env.write { txn in try txn.put(t, key: UInt64(1), value: [1]) }
            try env.write { txn in
                try txn.drop(named: "old")
                try txn.drop(named: "never-made")
            }
        }
        let env = try Environment(path: path, options: .init(readOnly: true))
        #expect(throws: LMDBError.self) { try env.openTables([("old", [.integerKey])]) }
        #expect(try env.openTables([("kept", [])]).count == 1)
    }

    @Test func appendOutOfOrderFailsWithKeyExist() throws {
        let path = tempPath()
        defer { cleanup(path) }
        let env = try Environment(path: path)
        let t = try env.openTables([("t", [.integerKey])])[0]
        try env.write { txn in try txn.put(t, key: UInt64(5), value: [1], flags: .append) }
        do {
            try env.write { txn in try txn.put(t, key: UInt64(3), value: [1], flags: .append) }
            Issue.record("append out of order did not fail")
        } catch let e as LMDBError {
            #expect(e.code == LMDBError.keyExists)
            #expect(e.operation.contains("mdb_put(t)"))
            #expect(e.description.contains("MDB_KEYEXIST"))
        }
    }

    @Test func aThrowAbortsTheTransaction() throws {
        struct Boom: Error {}
        let path = tempPath()
        defer { cleanup(path) }
        let env = try Environment(path: path)
        let t = try env.openTables([("t", [])])[0]
        #expect(throws: Boom.self) {
            try env.write { txn in
                try txn.put(t, key: "k", value: [1])
                throw Boom()
            }
        }
        let found = try env.read { txn in try txn.get(t, key: "k") != nil }
        #expect(!found)
    }

    @Test func mapGrowsFromTinyToHundredsOfMegabytes() throws {
        let path = tempPath()
        defer { cleanup(path) }
        let env = try Environment(path: path, options: .init(initialMapSize: 64 << 10, noSync: true))
        let t = try env.openTables([("t", [.integerKey])])[0]
        let value = [UInt8](repeating: 0xAB, count: 4000)
        var key: UInt64 = 0
        // 300 MB in 100 transactions of 3 MB.
        for _ in 0..<100 {
            try env.write { txn in
                for _ in 0..<750 {
                    key += 1
                    try txn.put(t, key: key, value: value, flags: .append)
                }
            }
        }
        #expect(env.mapSize >= 300 << 20)
        let count = try env.read { txn in try txn.count(t) }
        #expect(count == 75_000)
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        #expect(size >= 300_000_000)
    }

    /// Resident kilobytes of this process's mapping of `path` (from /proc/self/smaps, so
    /// other tests' files do not count).
    private func residentKB(of path: String) throws -> Int {
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        var total = 0, inside = false
        // procfs files report size 0, so read to the end rather than by size.
        let data = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/smaps")).readToEnd() ?? Data()
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            if let first = line.first, first.isHexDigit, line.contains("-") {
                inside = line.hasSuffix(" " + real)
            } else if inside, line.hasPrefix("Rss:") {
                total += Int(line.split(separator: " ")[1]) ?? 0
            }
        }
        return total
    }

    /// Pages read through the map stop counting in the process's memory once released,
    /// inside the transaction that read them and after the map has grown (a new map,
    /// at a new address), and the values read stay correct.
    @Test func releasedMapPagesLeaveResidentMemory() throws {
        let path = tempPath()
        defer { cleanup(path) }
        let env = try Environment(path: path, options: .init(initialMapSize: 1 << 20))
        let t = try env.openTables([("t", [.integerKey])])[0]
        let value = [UInt8](repeating: 9, count: 4000)
        let perRound = 5_000
        for round in 1...2 {
            try env.write { txn in
                for k in UInt64((round - 1) * perRound)..<UInt64(round * perRound) { try txn.put(t, key: k, value: value, flags: .append) }
            }
            try env.read { txn in
                var sum = 0
                for k in UInt64(0)..<UInt64(round * perRound) { sum += Int(try txn.get(t, key: k)?[3999] ?? 0) }
                #expect(sum == 9 * round * perRound)
                let before = try residentKB(of: path)
                #expect(before > 15_000 * round)
                txn.releaseMappedPages()
                #expect(try residentKB(of: path) < before / 4)
                #expect(try txn.get(t, key: UInt64(5))?[0] == 9)
            }
        }
    }

    @Test func newFilesHaveMode0600() throws {
        let path = tempPath()
        defer { cleanup(path) }
        _ = try Environment(path: path)
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    @Test func readOnlyEnvironmentRefusesWrites() throws {
        let path = tempPath()
        defer { cleanup(path) }
        do { _ = try Environment(path: path).openTables([("t", [])]) }
        let ro = try Environment(path: path, options: .init(readOnly: true))
        _ = try ro.openTables([("t", [])])
        #expect(throws: LMDBError.self) { try ro.write { _ in } }
    }
}
