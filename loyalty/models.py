"""Points ledger, tiers, rewards and referrals: built in issue #5."""
