ALTER TABLE deal_stage_history DROP CONSTRAINT deal_stage_history_from_stage_id_fkey,
    ADD CONSTRAINT deal_stage_history_from_stage_id_fkey FOREIGN KEY (from_stage_id) REFERENCES stages (id);
ALTER TABLE deal_stage_history DROP CONSTRAINT deal_stage_history_to_stage_id_fkey,
    ADD CONSTRAINT deal_stage_history_to_stage_id_fkey FOREIGN KEY (to_stage_id) REFERENCES stages (id);
