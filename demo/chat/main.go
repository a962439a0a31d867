// Command chat is a terminal chat room over a totem process group: every member sees
// every message and every join and leave in the one agreed order, and a newcomer is
// handed the room's recent history by state transfer, so that its screen goes on exactly
// like everyone else's.
//
//	chat --socket /run/totem/totemd.sock --nick alice [--room lobby] [--history 100]
//
// The socket defaults to $TOTEM_SOCKET, else totemd's default for the user (as
// totemctl); the nickname to $USER. The nickname is the client's name (client.WithName),
// which the daemon shows in every view, so joins need no message of their own.
//
// # Input
//
// Standard input is read line by line (a pipe or a terminal alike; no prompt):
//
//	any line      a message to the room (empty lines are skipped; "//x" sends "/x")
//	/who          lists the members of the current view
//	/quit         leaves the room gracefully and exits 0; so does the end of input
//
// SIGINT and SIGTERM leave gracefully too (exit 0). If the daemon goes away, chat says
// so on standard error and exits 1; usage errors exit 2.
//
// # Output
//
// Standard output has one line per event, and the same lines in the same order on every
// member's screen:
//
//	<alice> hello                       a message
//	* bob joined (node 2)               bob joined the room, through node 2's daemon
//	* bob joined (node-up, node 2)      bob came with node 2 (a merge after a partition)
//	* bob left (leave)                  he left (/quit, end of input, a signal)
//	* bob left (disconnect)             his program or its connection died
//	* bob left (node-down)              his node failed or is cut off
//
// A view with several changes prints its leaves, then its joins, each ordered by
// (node, session). A reason the daemon may add later is shown as it comes. Names and
// texts that are not printable UTF-8 (a newline, say) are shown Go-quoted, so that an
// event is always one line and no one can forge another's line.
//
// A member's first lines are the room's history as of its join, then its own join
// notice, then the room live:
//
//	--- history (2 messages) ---
//	* alice joined (node 1)
//	<alice> hi
//	--- end of history ---
//	* bob joined (node 2)
//	<alice> welcome bob
//
// The history is the last lines (messages and notices alike, counted in the header) of
// the screen of the member that handed it over, up to the newcomer's cut: just before
// its own join notice, unless other views came first (then the notice is part of the
// history). The newcomer's --history says how many lines it wants, the giver's how many
// it keeps. The first member of an empty room gets "--- history (0 messages) ---". The
// room lines of a newcomer's screen, history included, are thus the last lines of the
// giver's screen, and from the cut on the same as every member's, line for line. /who
// prints a local line, in no one else's output or history:
//
//	--- members (2): alice (node 1), bob (node 2) ---
//
// Problems (a malformed message in the room, an unknown command, a line longer than
// 16 KiB) are reported on standard error, as "chat: ...".
//
// # Messages
//
// A room message is one kind byte and a body: a chat line (1, the text), or one of the
// history protocol's (a msgpack array): want (2), history (3) and claim (4). Messages
// that do not decode (sent by some other program in the group) are counted, reported on
// standard error and ignored by everyone alike, so they change no screen.
//
// # The history protocol
//
// Every member delivers the room's views and messages in the same order, so every
// member can run the same deterministic rules over them and reach the same decisions at
// the same points of the order, without asking anyone. A member is synced once it holds
// the history; it then prints live and keeps the last lines of its screen.
//
//   - Want. A member that is not synced multicasts a want after each view it delivers
//     (its own join view first). The want's cut is the start of the latest view
//     delivered before the want, a point of the order that every member places alike:
//     normally just before the newcomer's own join notice. Until it is synced, the
//     newcomer prints nothing and keeps every line of its events, noting where each
//     view's lines start, so that it can go on from the cut of any of its wants.
//   - Answer. The wants are answered by the lowest member, by (node, session), of those
//     known to be eligible: synced chat members. A member becomes eligible when an
//     answer to it is delivered, when its claim is delivered, by the empty-room rule
//     below, and when it sends an answer. Other programs in the group (totemctl listen,
//     say) never send wants, so they are never eligible and never awaited. At the
//     want's delivery every synced member notes its own screen position at the want's
//     cut; the one that answers sends the last lines before that position (at most the
//     newcomer's --history, and no more than a message holds) together with the
//     eligible set.
//   - Taking the history. The first answer to any of a newcomer's wants is the one:
//     everyone marks the newcomer synced and eligible there, and later answers to it are
//     ignored by all. The newcomer prints the history, then its kept lines from that
//     want's cut (its own join notice first), and from then on prints live. The lines
//     it prints are exactly the events ordered after the cut, and the history is exactly
//     the giver's screen before the cut, so its screen from the cut on is the giver's.
//   - The giver leaves. If the answering member leaves before its answer is ordered,
//     the view that says so is a new view: the newcomer wants again, and the new lowest
//     eligible member answers, cut at that view. A member answers each newcomer once,
//     and only a want whose cut lies within its own screen (a member that synced later
//     than that cut lacks those lines): the newcomer's next want, after the next view,
//     is.
//   - Empty room. A member's elders are the members that were in the room when it
//     joined. Any member that saw it join knows them, and drops each as it leaves. A
//     member with a delivered want and no elder left cannot be given a history, as
//     only an elder could hold one: at that point (the want's delivery, or the view in
//     which the last elder left) it is synced with an empty history, it prints all its
//     kept lines from its own join notice on, and becomes eligible. It and every member
//     that saw it join decide this alike; the first member of a room does so at once.
//   - Claim. Elders that never answer (other programs in the room, or chat members
//     themselves waiting) would leave a newcomer waiting: after --sync-timeout (5s)
//     without an answer it multicasts a claim. Where the claim is ordered, if no answer
//     came first, it is synced with an empty history, exactly as in an empty room, and
//     everyone agrees on it. This is the only use of a clock, and it decides nothing by
//     itself: the order decides between the answer and the claim. (An answer slower
//     than the timeout thus loses the newcomer its history, not its agreement with the
//     others: its screen is still theirs from its join on.)
//
// Knowledge of who is eligible only ever grows by events of the order, so no member
// believes another eligible that is not; a member may merely not know that one is (one
// that joined before it and synced alone, say). Then two members may both think
// themselves the lowest eligible and both answer; the first answer wins for everyone
// and the second is ignored, and the answer makes its sender known to all. After a
// merge (node-up), each side's members keep their own screens (the two sides' pasts
// differ, and a screen is never rewritten): the members that came with the merge are
// not eligible for the others until they answer, so each side answers its own
// newcomers' wants and the duplicate answers that follow are ignored, as above.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
