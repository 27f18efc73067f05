import Foundation
import Patron

/// The interactive loop: prompts, reads lines with ``LineEditor``, hands statements
/// to a ``Shell``. On a pipe or file ``runPiped(_:)`` reads statements without prompts.
public enum REPL {
    /// Runs the shell on a terminal until `.quit` or Ctrl-D; returns the exit status.
    public static func runInteractive(_ shell: Shell, historyPath: String?) -> Int32 {
        let editor = LineEditor(historyPath: historyPath)
        LineEditor.complete = { before, word in
            Completion.candidates(before: before, word: word, savedQueries: { shell.savedQueryNames },
                                  values: { shell.values(of: $0) })
        }
        shell.cancellation = QueryCancellation { LineEditor.interrupted.load(ordering: .relaxed) }
        shell.output.diagnostic("Patron shell: \(shell.databasePath). Type .help for help, .quit or Ctrl-D to leave.\n")
        var buffer = StatementBuffer(interactive: true)
        var typed: [String] = []
        while !shell.quitRequested {
            let prompt = buffer.isPending ? "   ...> " : "patron> "
            let line: String
            switch editor.readLine(prompt: prompt) {
            case .end:
                shell.output.result("\n")
                return 0
            case .interrupted:
                // Ctrl-C drops the line being typed and any statement it continued.
                buffer = StatementBuffer(interactive: true)
                typed = []
                continue
            case .line(let text):
                line = text
            }
            if line.isEmpty && !buffer.isPending && typed.isEmpty { continue }
            typed.append(line)
            let ready = buffer.add(line)
            if !ready.isEmpty || !buffer.isPending {
                let entry = typed.joined(separator: "\n").trimmingWhitespace
                // Leaving is not worth recalling: Up after a restart brings back the last statement.
                if ![".quit", ".exit"].contains(entry.lowercased()) { editor.remember(entry) }
                typed = []
            }
            // A Ctrl-C from here on stops the running statement (the shell's
            // cancellation reads the same flag) and the rest of the line's statements.
            for s in ready {
                shell.execute(s.text, origin: "query")
                if shell.quitRequested || LineEditor.interrupted.load(ordering: .relaxed) { break }
            }
        }
        return 0
    }

    /// Runs statements read from a pipe or file: results on stdout, diagnostics on
    /// stderr; returns 1 if any statement failed, else 0.
    public static func runPiped(_ shell: Shell, input: FileHandle = .standardInput, origin: String = "stdin") -> Int32 {
        let data = input.readDataToEndOfFile()
        shell.runScript(String(decoding: data, as: UTF8.self), origin: origin)
        return shell.failures > 0 ? 1 : 0
    }
}

extension Shell {
    /// Distinct values of a field in the data (for completion), cached per session.
    func values(of field: String) -> [String] {
        guard let q = Completion.valueSources[field], let db = try? openDatabase(),
              let r = try? db.query(q + " show count()") else { return [] }
        return r.rows.compactMap { row -> String? in
            switch row.first {
            case .string(let s): return s
            case .list(let l): return l.first
            default: return nil
            }
        }
    }
}
