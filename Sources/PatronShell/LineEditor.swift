import CLibEdit
import Foundation
import Synchronization

/// Line editing, history and Tab completion through libedit's readline interface.
/// One per process (libedit keeps global state); used only from the REPL's thread.
final class LineEditor {
    private let historyPath: String?
    /// Ctrl-C pressed (set by the signal handler, read after each line).
    static let interrupted = Atomic<Bool>(false)
    /// Completion candidates for the word at the cursor, given the line before it.
    nonisolated(unsafe) static var complete: ((String, String) -> [String])?
    // The candidates of the completion in progress (libedit asks for them one by one).
    nonisolated(unsafe) private static var pending: [String] = []

    init(historyPath: String?) {
        self.historyPath = historyPath
        setlocale(LC_ALL, "")
        using_history()
        stifle_history(2000)
        if let historyPath { _ = read_history(historyPath) }
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
        }, { _ in
            // One key from the terminal; a Ctrl-C (SIGINT interrupting the read) ends
            // the line, which readLine then drops.
            // Polls in short steps so a Ctrl-C that lands outside read() is seen too.
            var c: UInt8 = 0
            while true {
                if LineEditor.interrupted.load(ordering: .relaxed) { return 10 }
                var p = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
                let ready = poll(&p, 1, 100)
                if ready == 0 { continue }
                if ready < 0 {
                    if errno == EINTR { continue }
                    return EOF
                }
                let n = read(0, &c, 1)
                if n == 1 { return Int32(c) }
                if n == 0 { return EOF }
                if errno == EINTR || errno == EAGAIN { continue }
                return EOF
            }
        })
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in LineEditor.interrupted.store(true, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGINT, &action, nil)
        // A parent may have started us with SIGINT blocked; Ctrl-C must reach us.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    }

    nonisolated(unsafe) private static var cursor = 0

    /// Reads a line; nil at Ctrl-D. A Ctrl-C returns `""` after cancelling the line.
    func readLine(prompt: String) -> String? {
        LineEditor.interrupted.store(false, ordering: .relaxed)
        guard let raw = readline(prompt) else {
            if LineEditor.interrupted.exchange(false, ordering: .relaxed) {
                FileHandle.standardOutput.write(Data("^C\n".utf8))
                return ""
            }
            return nil
        }
        defer { free(raw) }
        if LineEditor.interrupted.exchange(false, ordering: .relaxed) {
            FileHandle.standardOutput.write(Data("^C\n".utf8))
            return ""
        }
        return String(cString: raw)
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
