-- A stage that holds no deals can be deleted; the stage history of deals that passed
-- through it keeps the move and forgets the stage.
ALTER TABLE deal_stage_history ALTER COLUMN to_stage_id DROP NOT NULL;
ALTER TABLE deal_stage_history DROP CONSTRAINT deal_stage_history_from_stage_id_fkey,
    ADD CONSTRAINT deal_stage_history_from_stage_id_fkey FOREIGN KEY (from_stage_id) REFERENCES stages (id) ON DELETE SET NULL;
ALTER TABLE deal_stage_history DROP CONSTRAINT deal_stage_history_to_stage_id_fkey,
    ADD CONSTRAINT deal_stage_history_to_stage_id_fkey FOREIGN KEY (to_stage_id) REFERENCES stages (id) ON DELETE SET NULL;
