"""Leaderboard: how the compared models fared in this collection's votes, and the votes to download."""

from __future__ import annotations

import streamlit as st

from rag.models.votes import MIN_VOTES_FOR_RATING, VoteStore, export_csv, export_json, leaderboard
from ui.components import md_escape
from ui.state import context


def main() -> None:
    ctx = context()
    tr = ctx.tr
    votes = VoteStore.open(ctx.settings.data_dir, ctx.collection).votes()
    board = leaderboard(votes)
    st.title(tr("board.title"), anchor=False)
    st.caption(tr("board.caption", collection=md_escape(ctx.collection), n=board.total))
    if not board.total:
        st.info(tr("board.empty"), icon=":material/how_to_vote:")
        st.page_link("views/compare.py", label=tr("nav.compare"), icon=":material/compare_arrows:")
        return
    st.dataframe(
        [{tr("board.pair"): f"{p.first} vs {p.second}", tr("board.votes"): p.votes,
          tr("board.wins_a"): f"{p.first}: {p.win_rate(p.first):.0%} ({p.wins_first})",
          tr("board.wins_b"): f"{p.second}: {p.win_rate(p.second):.0%} ({p.wins_second})",
          tr("board.ties"): p.ties, tr("board.both_wrong"): p.both_wrong} for p in board.pairs],
        hide_index=True, key="pairs")
    for p in board.pairs:
        st.markdown(f"- **{md_escape(p.first)}** vs **{md_escape(p.second)}** · {p.votes} "
                    f"{tr('board.votes').lower()} · "
                    f"{tr('board.win_rate', model=md_escape(p.first), rate=f'{p.win_rate(p.first):.0%}')} · "
                    f"{tr('board.win_rate', model=md_escape(p.second), rate=f'{p.win_rate(p.second):.0%}')}")
    st.subheader(tr("board.rating"), anchor=False)
    if board.ratings:
        st.dataframe([{tr("board.model"): r.model, tr("board.score"): round(r.rating),
                       tr("board.votes"): r.votes} for r in board.ratings], hide_index=True, key="ratings")
    else:
        st.caption(tr("board.rating_wait", min=MIN_VOTES_FOR_RATING, n=board.rated_votes))
    left, right = st.columns(2)
    left.download_button(tr("board.download_json"), export_json(votes), file_name=f"votes-{ctx.collection}.json",
                         mime="application/json", icon=":material/download:", key="download_json")
    right.download_button(tr("board.download_csv"), export_csv(votes), file_name=f"votes-{ctx.collection}.csv",
                          mime="text/csv", icon=":material/download:", key="download_csv")


main()
