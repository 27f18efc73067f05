import CLibEdit
import Foundation
import Synchronization

/// Line editing, history and Tab completion through libedit's readline interface.
/// One per process (libedit keeps global state); used only from the REPL's thread.
final class LineEditor {
    private let historyPath: String?
    /// Ctrl-C pressed: set by the SIGINT handler; read by the key reader (to end the
    /// line), after each line, and by running queries (the shell's cancellation).
    static let interrupted = Atomic<Bool>(false)
    /// The terminal was resized (SIGWINCH): the key reader tells libedit.
    static let resized = Atomic<Bool>(false)
    /// Completion candidates for the word at the cursor, given the line before it.
    nonisolated(unsafe) static var complete: ((String, String) -> [String])?
    // The candidates of the completion in progress (libedit asks for them one by one).
    nonisolated(unsafe) private static var pending: [String] = []

    init(historyPath: String?) {
        self.historyPath = historyPath
        setlocale(LC_ALL, "")
        // Touched here so that the signal handler never runs its lazy initialisation.
        LineEditor.interrupted.store(false, ordering: .relaxed)
        LineEditor.resized.store(false, ordering: .relaxed)
        // Before any other libedit call: rl_initialize (run by the first one) reads
        // these settings once (see CLibEdit/shim.h).
        patron_rl_setup(UnsafePointer(strdup("patron")), { text, start, _ in
            guard let text, let line = patron_rl_line_buffer() else { return nil }
            let before = String(cString: line).utf8.prefix(Int(start))
            let word = String(cString: text)
            let candidates = LineEditor.complete?(String(decoding: before, as: UTF8.self), word) ?? []
            // Paths after .read/.import/.open: libedit's own file-name completion.
            if candidates.isEmpty, String(decoding: before, as: UTF8.self).hasPrefix(".") { return nil }
            LineEditor.pending = candidates
            patron_rl_completion_done()
            return rl_completion_matches(text) { _, state in
                if state == 0 { LineEditor.cursor = 0 }
                guard LineEditor.cursor < LineEditor.pending.count else { return nil }
                defer { LineEditor.cursor += 1 }
                return strdup(LineEditor.pending[LineEditor.cursor])
            }
        }, { _ in LineEditor.readCharacter() })
        using_history()
        stifle_history(2000)
        if let historyPath { _ = read_history(historyPath) }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in LineEditor.interrupted.store(true, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: a Ctrl-C interrupts a blocking poll or read
        sigaction(SIGINT, &action, nil)
        // libedit handles no signals now (rl_catch_signals = 0), window size changes
        // included; SA_RESTART leaves other calls alone, and poll returns anyway.
        var winch = sigaction()
        winch.__sigaction_handler.sa_handler = { _ in LineEditor.resized.store(true, ordering: .relaxed) }
        sigemptyset(&winch.sa_mask)
        winch.sa_flags = SA_RESTART
        sigaction(SIGWINCH, &winch, nil)
        // A parent may have started us with SIGINT blocked; Ctrl-C must reach us.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    }

    nonisolated(unsafe) private static var cursor = 0

    /// One key for libedit: a character decoded from UTF-8 (libedit takes the value
    /// as a `wchar_t`), or -1 at end of input and on Ctrl-C, which ends the line
    /// (``readLine(prompt:)`` then reports the interruption).
    static func readCharacter() -> Int32 {
        guard let first = readByte() else { return EOF }
        let length: Int
        switch first {
        case 0..<0x80: return Int32(first)
        case 0xC2..<0xE0: length = 2
        case 0xE0..<0xF0: length = 3
        case 0xF0..<0xF5: length = 4
        default: return 0xFFFD
        }
        var bytes = [first]
        while bytes.count < length {
            guard let next = readByte() else { return EOF }
            guard next & 0xC0 == 0x80 else { return 0xFFFD }
            bytes.append(next)
        }
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        if case .scalarValue(let scalar) = decoder.decode(&iterator) { return Int32(scalar.value) }
        return 0xFFFD
    }

    /// One byte of standard input; nil at end of input, on an error, or when Ctrl-C
    /// was pressed. Polls in short steps, so a Ctrl-C that lands outside `poll` or
    /// `read` (or is handled on another thread) is seen within 100 ms.
    private static func readByte() -> UInt8? {
        var c: UInt8 = 0
        while true {
            if interrupted.load(ordering: .relaxed) { return nil }
            if resized.exchange(false, ordering: .relaxed) { rl_resize_terminal() }
            var p = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, 100)
            if ready == 0 { continue }
            if ready < 0 {
                if errno == EINTR { continue }
                return nil
            }
            let n = read(0, &c, 1)
            if n == 1 { return c }
            if n == 0 { return nil }
            if errno == EINTR || errno == EAGAIN { continue }
            return nil
        }
    }

    /// What ``readLine(prompt:)`` read.
    enum Input: Equatable {
        case line(String)
        /// Ctrl-C: the line being typed is dropped.
        case interrupted
        /// Ctrl-D on an empty line, or the end of input.
        case end
    }

    /// Reads a line. A Ctrl-C pressed before this call (while a statement ran) is
    /// forgotten: it was meant for that statement.
    func readLine(prompt: String) -> Input {
        LineEditor.interrupted.store(false, ordering: .relaxed)
        let raw = readline(prompt)
        defer { free(raw) }
        if LineEditor.interrupted.exchange(false, ordering: .relaxed) {
            FileHandle.standardOutput.write(Data("^C\n".utf8))
            return .interrupted
        }
        guard let raw else { return .end }
        return .line(String(cString: raw))
    }

    /// Adds a statement to the history and saves it (kept across sessions).
    func remember(_ entry: String) {
        guard !entry.isEmpty else { return }
        add_history(entry)
        if let historyPath {
            _ = write_history(historyPath)
            chmod(historyPath, 0o600)
        }
    }
}
