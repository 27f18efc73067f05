import Foundation
import Testing
@testable import Patron

/// A process on a real pseudo-terminal: keystrokes in, screen text out.
final class PTYSession {
    let master: Int32
    let pid: pid_t
    private(set) var screen = ""

    init(_ product: String, _ arguments: [String], environment: [String: String]) throws {
        // posix_openpt/unlockpt/ptsname are not in the Glibc module: the Linux ioctls
        // they wrap (TIOCSPTLCK = 0x40045431, TIOCGPTN = 0x80045430).
        let m = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard m >= 0, ioctl(m, 0x4004_5431, &unlock) == 0, ioctl(m, 0x8004_5430, &number) == 0 else { throw POSIXError(.EIO) }
        master = m
        let slave = "/dev/pts/\(number)"
        var size = winsize(ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(m, UInt(TIOCSWINSZ), &size)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // A new session: opening the terminal then makes it the controlling one, so
        // Ctrl-C reaches the shell as SIGINT.
        posix_spawn_file_actions_addopen(&actions, 0, slave, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
        posix_spawn_file_actions_addclose(&actions, m)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc's 0x80; the Glibc module leaves the GNU flags out).
        // Also a clean signal mask and default handlers: the test runner's threads may
        // block or ignore SIGINT, and a spawned child inherits that.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(0x80 | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let path = productsDirectory.appendingPathComponent(product).path
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        pid = child
    }

    func send(_ keys: String) {
        _ = keys.utf8CString.withUnsafeBufferPointer { write(master, $0.baseAddress, $0.count - 1) }
    }

    /// Reads until `text` appears on the screen after `from` (an offset into it), or the
    /// timeout; returns whether it appeared.
    @discardableResult
    func wait(for text: String, after from: String.Index? = nil, timeout: Double = 20) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let from, screen[from...].contains(text) { return true }
            if from == nil, screen.contains(text) { return true }
            var p = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = read(master, &buffer, buffer.count)
            if n <= 0 { break }
            screen += String(decoding: buffer[0..<n], as: UTF8.self)
        }
        if let from { return screen[from...].contains(text) }
        return screen.contains(text)
    }

    var end: String.Index { screen.endIndex }

    /// Waits for the process to end; its exit status (or -1 after the timeout, killed).
    func finish(timeout: Double = 20) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while Date() < deadline {
            _ = wait(for: "\u{0}", timeout: 0.1)
            if waitpid(pid, &status, WNOHANG) == pid {
                close(master)
                return (status >> 8) & 0xff
            }
        }
        kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
        close(master)
        return -1
    }
}

/// The REPL driven through a real pseudo-terminal, as an analyst would use it.
@Suite(.serialized) struct REPLTests {
    static func environment(_ dir: TempDir) -> [String: String] {
        ["TERM": "xterm", "LANG": "C.UTF-8", "HOME": dir.url.path, "PATRON_HISTORY": dir.path("history"),
         "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
    }

    static func database(_ dir: TempDir) throws -> String {
        let db = try GrammarTests.sampleDatabase(dir)
        try db.saveQuery("lapsed_tier", "clients where lapsed > $days = 90d show id, lapsed")
        return dir.path("db")
    }

    @Test func typeCompleteRunRecoverAndRecall() throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let db = try Self.database(dir)
        let env = Self.environment(dir)
        let s = try PTYSession("patron", ["--db", db, "--today", "2025-01-01"], environment: env)
        #expect(s.wait(for: "patron> "), "prompt: \(s.screen)")

        // A query and Enter prints the table.
        var mark = s.end
        s.send("clients show id, spend sort by id\r")
        #expect(s.wait(for: "$1,030.00", after: mark), "table: \(s.screen)")

        // Tab completes a field name (lap → lapsed) and a saved query's name.
        mark = s.end
        s.send("clients show id, lap\t\r")
        #expect(s.wait(for: "lapsed", after: mark))
        #expect(s.wait(for: "(3 rows)", after: mark), "completed query ran: \(s.screen[mark...])")
        #expect(!s.screen[mark...].contains("error"))
        mark = s.end
        s.send("run lapsed_t\t\r")
        #expect(s.wait(for: "(3 rows)", after: mark), "completed saved query ran: \(s.screen[mark...])")

        // A multi-line statement.
        mark = s.end
        s.send("clients where\r")
        #expect(s.wait(for: "...>", after: mark))
        s.send("  spend > $300\r")
        s.send("  show id;\r")
        #expect(s.wait(for: "(2 rows)", after: mark), "multi-line: \(s.screen[mark...])")

        // A bad query prints the caret diagnostic and the shell goes on.
        mark = s.end
        s.send("clients show idd\r")
        #expect(s.wait(for: "did you mean \"id\"?", after: mark))
        #expect(s.wait(for: "^~~", after: mark))
        mark = s.end
        s.send("clients show count()\r")
        #expect(s.wait(for: "(1 row)", after: mark))

        // Keys are read as UTF-8: a non-ASCII word reaches the parser intact.
        #expect(s.wait(for: "patron> ", after: s.screen.range(of: "(1 row)", options: .backwards)?.upperBound ?? mark))
        mark = s.end
        s.send("clients show naïve\r")
        #expect(s.wait(for: "unknown field \"naïve\"", after: mark), "UTF-8 input: \(s.screen[mark...])")

        // Ctrl-C at the prompt cancels the line being typed; the shell stays. No second
        // press, no pause: the first Ctrl-C is always seen.
        #expect(s.wait(for: "patron> ", after: s.screen.range(of: "naïve\"", options: .backwards)?.upperBound ?? mark))
        mark = s.end
        s.send("clients where nonsense")
        #expect(s.wait(for: "nonsense", after: mark), "echo before Ctrl-C")
        mark = s.end
        s.send("\u{03}")
        #expect(s.wait(for: "^C", after: mark), "Ctrl-C acknowledged: \(s.screen[mark...])")
        #expect(s.wait(for: "patron> ", after: mark), "a fresh prompt after Ctrl-C: \(s.screen[mark...])")
        // Keys typed the instant the prompt shows are kept: the terminal is in the
        // editor's mode before the prompt is written.
        s.send("clients show id limit 1\r")
        #expect(s.wait(for: "C-1001", after: mark), "after Ctrl-C: \(s.screen[mark...])")
        #expect(!s.screen[mark...].contains("unknown field \"nonsense\""))

        // Ctrl-C on a continuation line drops the whole pending statement (it is not
        // run as if the line had been blank).
        #expect(s.wait(for: "patron> ", after: s.screen.range(of: "C-1001", options: .backwards)?.upperBound ?? mark))
        mark = s.end
        s.send("clients where\r")
        #expect(s.wait(for: "...>", after: mark))
        s.send("spend > $300")
        #expect(s.wait(for: "$300", after: mark))
        s.send("\u{03}")
        #expect(s.wait(for: "patron> ", after: mark), "back to the first prompt: \(s.screen[mark...])")
        s.send("clients show count() as n\r")
        #expect(s.wait(for: "(1 row)", after: mark), "the next statement runs: \(s.screen[mark...])")
        #expect(!s.screen[mark...].contains("error"), "the dropped statement did not run: \(s.screen[mark...])")

        #expect(s.wait(for: "patron> ", after: s.screen.range(of: "(1 row)", options: .backwards)?.upperBound ?? mark))
        s.send(".quit\r")
        #expect(s.finish() == 0)

        // After a restart, Up recalls the previous statement from the history file.
        let again = try PTYSession("patron", ["--db", db, "--today", "2025-01-01"], environment: env)
        #expect(again.wait(for: "patron> "))
        mark = again.end
        again.send("\u{1B}[A")
        #expect(again.wait(for: "count() as n", after: mark), "recalled: \(again.screen[mark...])")
        again.send("\r")
        #expect(again.wait(for: "(1 row)", after: mark))
        #expect(again.wait(for: "patron> ", after: again.screen.range(of: "(1 row)", options: .backwards)?.upperBound ?? mark))
        // Ctrl-D the instant the prompt shows: in a canonical terminal it would become a
        // NUL byte and be lost.
        again.send("\u{04}")
        #expect(again.finish() == 0, "Ctrl-D quits")
    }

    /// The milliseconds of the last `Run Time: … ms` line after `from`.
    static func runTime(_ s: PTYSession, after from: String.Index) -> Double? {
        let text = String(s.screen[from...])
        guard let m = text.matches(of: /Run Time: ([0-9.]+) ms/).last else { return nil }
        return Double(m.output.1)
    }

    /// Ctrl-C on a long query returns to the prompt with "interrupted", long before the
    /// query would have ended, and the shell answers the next query. The long query is
    /// an ordinary one: every event of a 3,000-client demo clinic (about 73,000)
    /// sorted by client — strings compared ignoring case, seconds in a debug build
    /// (well over a second in a release one).
    @Test func ctrlCStopsALongQuery() throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        do {
            let db = try Database(path: dir.path("db"))
            _ = try DemoClinic.build(into: db, clients: 3000, seed: 1, end: day("2026-11-22"))
        }
        let s = try PTYSession("patron", ["--db", dir.path("db"), "--today", "2026-11-22"], environment: Self.environment(dir))
        #expect(s.wait(for: "patron> "), "prompt: \(s.screen)")
        var mark = s.end
        // Warm the event table, so both runs below do the same work.
        s.send(".timer on\r")
        #expect(s.wait(for: "patron> ", after: mark))
        mark = s.end
        s.send("events show count()\r")
        #expect(s.wait(for: "Run Time", after: mark), "\(s.screen[mark...])")
        #expect(s.wait(for: "patron> ", after: mark))

        // The whole query, timed by the shell: the premise is that it is slow here.
        let slow = "events show client, at, type sort by client, at desc limit 3"
        mark = s.end
        s.send(slow + "\r")
        #expect(s.wait(for: "(3 rows)", after: mark, timeout: 120), "the whole query: \(s.screen[mark...])")
        #expect(s.wait(for: "Run Time", after: mark))
        let whole = try #require(Self.runTime(s, after: mark), "run time: \(s.screen[mark...])")
        try #require(whole > 500, "the query took \(whole) ms: too quick for Ctrl-C to land while it runs; pick a slower one")
        #expect(s.wait(for: "patron> ", after: s.screen.range(of: "Run Time", options: .backwards)?.upperBound ?? mark))

        // Again, and Ctrl-C a fifth of the way in (at most 0.4 s).
        mark = s.end
        s.send(slow + "\r")
        #expect(s.wait(for: "limit 3\r\n", after: mark), "echo: \(s.screen[mark...])")
        Thread.sleep(forTimeInterval: min(0.4, whole / 5000))
        s.send("\u{03}")
        #expect(s.wait(for: "interrupted (Ctrl-C)", after: mark, timeout: 60), "interrupted: \(s.screen[mark...])")
        #expect(s.wait(for: "Run Time", after: mark))
        #expect(!s.screen[mark...].contains("(3 rows)"), "no result after Ctrl-C: \(s.screen[mark...])")
        // Stopped where it was, not at its end: the sort watches for Ctrl-C too.
        let stopped = try #require(Self.runTime(s, after: mark))
        #expect(stopped < whole * 0.6, "stopped after \(stopped) ms of a \(whole) ms query")
        #expect(s.wait(for: "patron> ", after: s.screen.range(of: "Run Time", options: .backwards)?.upperBound ?? mark))

        // The shell goes on: the next query is answered (not taken for interrupted).
        mark = s.end
        s.send("clients show count() as n\r")
        #expect(s.wait(for: "(1 row)", after: mark), "after the interrupted query: \(s.screen[mark...])")
        #expect(s.wait(for: "3000", after: mark))
        #expect(!s.screen[mark...].contains("interrupted"))
        #expect(s.wait(for: "patron> ", after: s.screen.range(of: "(1 row)", options: .backwards)?.upperBound ?? mark))
        s.send(".quit\r")
        #expect(s.finish() == 0)
    }
}
