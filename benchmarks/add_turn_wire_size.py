"""Bytes sent for one turn on a short and a long session: add_turn against append-then-save().

Run: python benchmarks/add_turn_wire_size.py [--uri URI | --server ferretdb|mongo-java-server]
Target: add_turn's long/short ratio <= 1.05 (its update carries only the new entry).
"""

from __future__ import annotations

from roleplay_models import ConversationEntry, RoleplaySession, Scenario

from common import CommandLog, real_server, server_choice

TEXT = "Could you walk me through how the pricing works for a team of forty?"


def session_with_turns(scenario: Scenario, turns: int) -> RoleplaySession:
    session = RoleplaySession.start(scenario, "bench-rep")
    history = [ConversationEntry(role="user" if i % 2 else "assistant", text=TEXT)
               for i in range(turns)]
    RoleplaySession.objects(pk=session.pk).update_one(push_all__conversation_history=history)
    return RoleplaySession.objects.get(pk=session.pk)


def append_and_save(session: RoleplaySession) -> None:
    session.conversation_history.append(ConversationEntry(role="user", text=TEXT))
    session.save()


def bytes_sent(log: CommandLog, action) -> int:
    with log.recording():
        action()
    return sum(log.sizes("update"))


def main() -> None:
    log = CommandLog()
    with real_server(log, server_choice(__doc__)) as server:
        scenario = Scenario(scenario_id="bench", title="Bench", description="d",
                            llm_prompt="p").save()
        rows = []
        for turns in (10, 990):  # 990: room for one more under the 1,000-turn limit
            live = session_with_turns(scenario, turns)
            via_add_turn = bytes_sent(log, lambda live=live: live.add_turn("user", TEXT))
            saved = session_with_turns(scenario, turns)
            via_save = bytes_sent(log, lambda saved=saved: append_and_save(saved))
            rows.append((turns, via_add_turn, via_save))
        print(f"Bytes sent for one turn ({server}):")
        print(f"{'turns before':>13} {'add_turn':>10} {'append+save()':>14}")
        for turns, add_turn, save in rows:
            print(f"{turns:>13} {add_turn:>10} {save:>14}")
        (_, short_add, short_save), (_, long_add, long_save) = rows
        print(f"ratio 990/10: add_turn {long_add / short_add:.3f} (target <= 1.05),"
              f" append+save() {long_save / short_save:.1f}")


if __name__ == "__main__":
    main()
