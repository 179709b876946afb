/** The items a new preview lists (src/seed.ts inserts them); `seed-` names them apart from what reviewers create. */
export const SEED_ITEMS: readonly string[] = ['seed-welcome', 'seed-first-task', 'seed-second-task'];
