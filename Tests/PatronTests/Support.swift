import Foundation
import Testing
@testable import Patron

/// A fresh directory for one test, removed when the value goes away.
final class TempDir {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("patron-test-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    /// Every file in the directory, as bytes.
    func allFiles() throws -> [(String, Data)] {
        try FileManager.default.contentsOfDirectory(atPath: url.path).map { ($0, try Data(contentsOf: url.appendingPathComponent($0))) }
    }
}

/// Milliseconds of a date or date-time in UTC (test data only).
func ms(_ text: String) -> Int64 {
    guard let v = TimestampParser.parse(text, zone: .utc) else { fatalError("bad test date \(text)") }
    return v
}

/// A day number from `YYYY-MM-DD`.
func day(_ text: String) -> Day { Zone.utc.day(of: ms(text)) }

/// The directory of the built products (where `patron` and `patron-testproc` are).
var productsDirectory: URL {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    // On Linux the test binary is `…/debug/PatronPackageTests.xctest`; on macOS it is inside a bundle.
    while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("patron-testproc").path), dir.path != "/" {
        dir = dir.deletingLastPathComponent()
    }
    return dir
}

/// Runs a built product; returns (exit status, stdout, stderr).
@discardableResult
func runProduct(_ name: String, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws
    -> (status: Int32, out: String, err: String)
{
    let p = Process()
    p.executableURL = productsDirectory.appendingPathComponent(name)
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe(), err = Pipe(), input = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// The package's root folder (for `examples/`).
var packageRoot: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// A small deterministic random generator (SplitMix64) so failures reproduce.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// True when `needle` occurs in `haystack`.
func contains(_ haystack: Data, _ needle: String) -> Bool {
    haystack.range(of: Data(needle.utf8)) != nil
}
