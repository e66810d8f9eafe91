import type { Db } from '../db';

export interface User {
  id: string;
  email: string;
  role: 'admin' | 'user';
  status: string;
}

export function createUserService(db: Db) {
  const byId = db.prepare('SELECT id, email, role, status FROM users WHERE id = ?');
  return {
    async findById(id: string): Promise<User | undefined> {
      return byId.get(id) as User | undefined;
    },
  };
}

export type UserService = ReturnType<typeof createUserService>;
