-- The nine modes of the showcase's chatroom (plus round robin): the planner in server/rooms/ knows each one.
ALTER TABLE rooms DROP CONSTRAINT rooms_mode_check;
ALTER TABLE rooms ADD CONSTRAINT rooms_mode_check CHECK (mode IN (
    'natural', 'round_robin', 'topic', 'problem_solving', 'knowledge_sharing', 'creative',
    'moderated', 'democratic', 'six_thinking_hats', 'swot', 'adversarial'
));
