// Drives the server with masto.js (an independent Mastodon client library) and prints what it
// saw as JSON on stdout: a poll made and voted on, grouped notifications (v2) and conversations.
// Environment: BASE_URL, and ALICE_TOKEN, BOB_TOKEN, CAROL_TOKEN (user tokens, read+write).
// tests/test_masto_js.py runs it and compares the results with Mastodon.py's view.
import { createRestAPIClient } from "masto";

function client(name) {
  const accessToken = process.env[`${name.toUpperCase()}_TOKEN`];
  if (!process.env.BASE_URL || !accessToken) {
    throw new Error(`BASE_URL and ${name.toUpperCase()}_TOKEN must be set`);
  }
  return createRestAPIClient({ url: process.env.BASE_URL, accessToken, timeout: 30_000 });
}

const alice = client("alice");
const bob = client("bob");
const carol = client("carol");

// A multiple-choice poll, voted on by two colleagues.
const status = await alice.v1.statuses.create({
  status: "Which drinks for the offsite?",
  poll: { options: ["tea", "coffee", "water"], expiresIn: 3600, multiple: true },
});
const bobVote = await bob.v1.polls.$select(status.poll.id).votes.create({ choices: [0, 2] });
const carolVote = await carol.v1.polls.$select(status.poll.id).votes.create({ choices: [2] });
const pollSeenByAlice = await alice.v1.polls.$select(status.poll.id).fetch();

// Two favourites of the same post: one notification group for alice.
await bob.v1.statuses.$select(status.id).favourite();
await carol.v1.statuses.$select(status.id).favourite();
const grouped = await alice.v2.notifications.list({ groupedTypes: ["favourite"] });
const favouriteGroup = grouped.notificationGroups.find((g) => g.type === "favourite");
const groupAccounts = await alice.v2.notifications.$select(favouriteGroup.groupKey).accounts.fetch();
const unread = await alice.v2.notifications.unreadCount.fetch();

// A direct message: a conversation for bob, read afterwards.
const message = await alice.v1.statuses.create({ status: "@bob a secret", visibility: "direct" });
const bobConversations = await bob.v1.conversations.list();
const carolConversations = await carol.v1.conversations.list();
const readConversation = await bob.v1.conversations.$select(bobConversations[0].id).read();

process.stdout.write(
  JSON.stringify({
    status: { id: status.id, pollId: status.poll.id, multiple: status.poll.multiple },
    bobVote: { voted: bobVote.voted, ownVotes: bobVote.ownVotes },
    carolVote: { voted: carolVote.voted, ownVotes: carolVote.ownVotes },
    poll: {
      id: pollSeenByAlice.id,
      votesCounts: pollSeenByAlice.options.map((o) => o.votesCount),
      titles: pollSeenByAlice.options.map((o) => o.title),
      votersCount: pollSeenByAlice.votersCount,
      votesCount: pollSeenByAlice.votesCount,
      expired: pollSeenByAlice.expired,
      expiresAt: pollSeenByAlice.expiresAt,
    },
    groups: grouped.notificationGroups.map((g) => ({
      groupKey: g.groupKey,
      type: g.type,
      notificationsCount: g.notificationsCount,
      sampleAccountIds: g.sampleAccountIds,
      statusId: g.statusId,
      mostRecentNotificationId: String(g.mostRecentNotificationId),
    })),
    groupedAccountIds: grouped.accounts.map((a) => a.id).sort(),
    groupedStatusIds: grouped.statuses.map((s) => s.id),
    groupAccounts: groupAccounts.map((a) => a.username),
    unreadCount: unread.count,
    message: { id: message.id, visibility: message.visibility },
    bobConversations: bobConversations.map((c) => ({
      id: c.id,
      unread: c.unread,
      accounts: c.accounts.map((a) => a.acct),
      lastStatusId: c.lastStatus?.id ?? null,
    })),
    carolConversations: carolConversations.map((c) => c.id),
    readConversation: { id: readConversation.id, unread: readConversation.unread },
  }),
);
