import Foundation
import Testing
@testable import LMDB
#if canImport(Glibc)
import Glibc
#endif

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

    @Test func appendAtTheRightEdgeSaysWhenAKeySortsAfter() throws {
        let path = tempPath()
        defer { cleanup(path) }
        let env = try Environment(path: path)
        let t = try env.openTables([("t", [])])[0]
        func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
        try env.write { txn in
            for key in ["b", "d"] {
                let stored = try bytes(key).withUnsafeBytes { k in try [UInt8(1)].withUnsafeBytes { v in try txn.append(t, key: k, value: v) } }
                #expect(stored)
            }
            // "c" sorts before "d": nothing is stored.
            let stored = try bytes("c").withUnsafeBytes { k in try [UInt8(1)].withUnsafeBytes { v in try txn.append(t, key: k, value: v) } }
            #expect(!stored)
        }
        let (count, foundC) = try env.read { txn in (try txn.count(t), try txn.get(t, key: "c") != nil) }
        #expect(count == 2 && !foundC)
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

    /// Start addresses of this process's mappings of `path`.
    private func mapStarts(of path: String) throws -> [UInt] {
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let data = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/maps")).readToEnd() ?? Data()
        return String(decoding: data, as: UTF8.self).split(separator: "\n")
            .filter { $0.hasSuffix(" " + real) }
            .compactMap { UInt($0.prefix { $0 != "-" }, radix: 16) }
    }

    /// Puts a page of private memory holding a marker at `address`, where a map was.
    private func victim(at address: UInt) -> UnsafeMutableRawPointer? {
        let p = mmap(UnsafeMutableRawPointer(bitPattern: address), 4096, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
        guard let p, p != MAP_FAILED, UInt(bitPattern: p) == address else { return nil }
        p.storeBytes(of: 0xDEAD_BEEF as UInt64, as: UInt64.self)
        return p
    }

    /// A release after the map moved (a resize, even to the same size, maps again) or
    /// after another environment of the same file closed never advises the memory that
    /// took the old map's place (`MADV_DONTNEED` would zero it): the file's mappings are
    /// looked up again after each. Where the old place can be taken by a page of our own
    /// (the map moved, nothing else took it), that page keeps its contents.
    @Test func releasesNeverTouchWhatWasTheMap() throws {
        let path = tempPath()
        defer { cleanup(path) }
        let file = MapRanges.resolved(path)
        let size = 64 << 20
        // Room reserved before the map is made, given back before it is made again: new
        // maps go to the highest free gap, so the same size usually lands there.
        let room = mmap(nil, 4 * size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        let env = try Environment(path: path, options: .init(initialMapSize: size))
        let t = try env.openTables([("t", [.integerKey])])[0]
        try env.write { txn in
            try txn.put(t, key: UInt64(1), value: [1])
            txn.releaseMappedPages()
        }
        let old = try mapStarts(of: path)
        #expect(old.count == 1 && MapRanges.cached(file)?.map(\.lowerBound) == old)
        if let room, room != MAP_FAILED { munmap(room, 4 * size) }
        try env.resize(to: env.mapSize)
        #expect(MapRanges.cached(file) == nil)
        let new = try mapStarts(of: path)
        let first = new != old ? victim(at: old[0]) : nil
        defer { if let first { munmap(first, 4096) } }
        try env.write { txn in
            try txn.put(t, key: UInt64(2), value: [2])
            txn.releaseMappedPages()
        }
        #expect(MapRanges.cached(file)?.map(\.lowerBound) == new)
        if let first { #expect(first.load(as: UInt64.self) == 0xDEAD_BEEF) }

        // A second environment of the file, released through, then closed.
        var readerMap: UInt?
        do {
            let reader = try Environment(path: path, options: .init(initialMapSize: size, readOnly: true))
            #expect(MapRanges.cached(file) == nil)
            let rt = try reader.openTables([("t", [.integerKey])])[0]
            let read: [UInt8]? = try reader.read { txn in
                defer { txn.releaseMappedPages() }
                return try txn.get(rt, key: UInt64(2)).map { Array($0) }
            }
            #expect(read == [2])
            #expect(MapRanges.cached(file)?.count == 2)
            readerMap = try mapStarts(of: path).first { $0 != new[0] }
        }
        #expect(MapRanges.cached(file) == nil)
        let second = readerMap.flatMap { victim(at: $0) }
        defer { if let second { munmap(second, 4096) } }
        try env.write { txn in
            try txn.put(t, key: UInt64(4), value: [4])
            txn.releaseMappedPages()
        }
        #expect(MapRanges.cached(file)?.count == 1)
        if let second { #expect(second.load(as: UInt64.self) == 0xDEAD_BEEF) }
        let stored = try env.read { txn in try txn.get(t, key: UInt64(4)).map { Array($0) } }
        #expect(stored == [4])
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
