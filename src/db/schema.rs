// @generated automatically by Diesel CLI.

diesel::table! {
    activities (id) {
        id -> Int8,
        #[sql_name = "type"]
        type_ -> Text,
        subject -> Text,
        description -> Nullable<Text>,
        direction -> Nullable<Text>,
        priority -> Text,
        start_at -> Nullable<Timestamptz>,
        end_at -> Nullable<Timestamptz>,
        deadline -> Nullable<Timestamptz>,
        completed -> Bool,
        completed_at -> Nullable<Timestamptz>,
        responsible_id -> Int8,
        owner_type -> Text,
        owner_id -> Int8,
        communications -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by_id -> Nullable<Int8>,
        updated_by_id -> Nullable<Int8>,
        version -> Int4,
    }
}

diesel::table! {
    activity_bindings (activity_id, element_type, element_id) {
        activity_id -> Int8,
        element_type -> Text,
        element_id -> Int8,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Int8,
        user_id -> Int8,
        name -> Text,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    communications (id) {
        id -> Int8,
        element_type -> Text,
        element_id -> Int8,
        kind -> Text,
        value_type -> Text,
        value -> Text,
        normalized -> Text,
        sort -> Int4,
    }
}

diesel::table! {
    companies (id) {
        id -> Int8,
        title -> Text,
        type_id -> Nullable<Int8>,
        industry_id -> Nullable<Int8>,
        employees_id -> Nullable<Int8>,
        revenue -> Nullable<Numeric>,
        currency -> Nullable<Text>,
        address -> Nullable<Text>,
        comments -> Nullable<Text>,
        assigned_to_id -> Nullable<Int8>,
        opened -> Bool,
        is_my_company -> Bool,
        legal_name -> Nullable<Text>,
        vat_id -> Nullable<Text>,
        tax_id -> Nullable<Text>,
        registration_address -> Nullable<Text>,
        bank_name -> Nullable<Text>,
        iban -> Nullable<Text>,
        bic -> Nullable<Text>,
        origin_lead_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by_id -> Nullable<Int8>,
        updated_by_id -> Nullable<Int8>,
        version -> Int4,
        custom -> Jsonb,
    }
}

diesel::table! {
    contact_companies (contact_id, company_id) {
        contact_id -> Int8,
        company_id -> Int8,
        is_primary -> Bool,
        sort -> Int4,
    }
}

diesel::table! {
    contacts (id) {
        id -> Int8,
        honorific -> Nullable<Text>,
        first_name -> Nullable<Text>,
        middle_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        photo_url -> Nullable<Text>,
        position -> Nullable<Text>,
        type_id -> Nullable<Int8>,
        source_id -> Nullable<Int8>,
        source_description -> Nullable<Text>,
        birthdate -> Nullable<Date>,
        address -> Nullable<Text>,
        comments -> Nullable<Text>,
        assigned_to_id -> Nullable<Int8>,
        opened -> Bool,
        origin_lead_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by_id -> Nullable<Int8>,
        updated_by_id -> Nullable<Int8>,
        version -> Int4,
        custom -> Jsonb,
    }
}

diesel::table! {
    deal_contacts (deal_id, contact_id) {
        deal_id -> Int8,
        contact_id -> Int8,
        is_primary -> Bool,
        sort -> Int4,
    }
}

diesel::table! {
    deals (id) {
        id -> Int8,
        title -> Text,
        pipeline_id -> Int8,
        stage_id -> Int8,
        probability -> Nullable<Int4>,
        opportunity -> Nullable<Numeric>,
        currency -> Nullable<Text>,
        is_manual_opportunity -> Bool,
        type_id -> Nullable<Int8>,
        source_id -> Nullable<Int8>,
        begin_date -> Nullable<Date>,
        close_date -> Nullable<Date>,
        closed -> Bool,
        company_id -> Nullable<Int8>,
        origin_lead_id -> Nullable<Int8>,
        comments -> Nullable<Text>,
        assigned_to_id -> Nullable<Int8>,
        opened -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by_id -> Nullable<Int8>,
        updated_by_id -> Nullable<Int8>,
        version -> Int4,
        lost_reason -> Nullable<Text>,
        custom -> Jsonb,
    }
}

diesel::table! {
    deal_stage_history (id) {
        id -> Int8,
        deal_id -> Int8,
        from_stage_id -> Nullable<Int8>,
        to_stage_id -> Nullable<Int8>,
        at -> Timestamptz,
        by_id -> Nullable<Int8>,
    }
}

diesel::table! {
    departments (id) {
        id -> Int8,
        name -> Text,
        parent_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    events (id) {
        id -> Int8,
        element_type -> Text,
        element_id -> Int8,
        action -> Text,
        changed -> Array<Text>,
        payload -> Jsonb,
        actor_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        published_seq -> Nullable<Int8>,
        published_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    leads (id) {
        id -> Int8,
        title -> Nullable<Text>,
        honorific -> Nullable<Text>,
        first_name -> Nullable<Text>,
        middle_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        birthdate -> Nullable<Date>,
        position -> Nullable<Text>,
        company_title -> Nullable<Text>,
        address -> Nullable<Text>,
        source_id -> Nullable<Int8>,
        source_description -> Nullable<Text>,
        status_id -> Int8,
        status_description -> Nullable<Text>,
        opportunity -> Nullable<Numeric>,
        currency -> Nullable<Text>,
        comments -> Nullable<Text>,
        assigned_to_id -> Nullable<Int8>,
        opened -> Bool,
        contact_id -> Nullable<Int8>,
        company_id -> Nullable<Int8>,
        utm_source -> Nullable<Text>,
        utm_medium -> Nullable<Text>,
        utm_campaign -> Nullable<Text>,
        utm_content -> Nullable<Text>,
        utm_term -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by_id -> Nullable<Int8>,
        updated_by_id -> Nullable<Int8>,
        version -> Int4,
        custom -> Jsonb,
    }
}

diesel::table! {
    lead_conversions (lead_id) {
        lead_id -> Int8,
        converted_at -> Timestamptz,
        contact_id -> Nullable<Int8>,
        company_id -> Nullable<Int8>,
        deal_id -> Nullable<Int8>,
        converted_by_id -> Nullable<Int8>,
    }
}

diesel::table! {
    pipelines (id) {
        id -> Int8,
        name -> Text,
        is_default -> Bool,
        sort -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    product_rows (id) {
        id -> Int8,
        owner_type -> Text,
        owner_id -> Int8,
        product_id -> Nullable<Int8>,
        name -> Text,
        unit_price -> Numeric,
        quantity -> Numeric,
        discount_percent -> Nullable<Numeric>,
        discount_amount -> Nullable<Numeric>,
        tax_rate -> Numeric,
        tax_included -> Bool,
        unit -> Nullable<Text>,
        sort -> Int4,
        line_net -> Numeric,
        line_tax -> Numeric,
        line_gross -> Numeric,
    }
}

diesel::table! {
    products (id) {
        id -> Int8,
        name -> Text,
        sku -> Nullable<Text>,
        description -> Nullable<Text>,
        price -> Numeric,
        currency -> Text,
        tax_rate -> Numeric,
        tax_included -> Bool,
        unit -> Text,
        active -> Bool,
        sort -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by_id -> Nullable<Int8>,
        updated_by_id -> Nullable<Int8>,
        version -> Int4,
    }
}

diesel::table! {
    stages (id) {
        id -> Int8,
        pipeline_id -> Int8,
        code -> Text,
        name -> Text,
        sort -> Int4,
        semantics -> Text,
        probability -> Int4,
        color -> Nullable<Text>,
    }
}

diesel::table! {
    status_items (id) {
        id -> Int8,
        list_kind -> Text,
        code -> Text,
        name -> Text,
        sort -> Int4,
        semantics -> Text,
        color -> Nullable<Text>,
        is_system -> Bool,
    }
}

diesel::table! {
    timeline_entries (id) {
        id -> Int8,
        element_type -> Text,
        element_id -> Int8,
        kind -> Text,
        at -> Timestamptz,
        author_id -> Nullable<Int8>,
        text -> Nullable<Text>,
        changes -> Jsonb,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        email -> Text,
        name -> Text,
        time_zone -> Text,
        department_id -> Nullable<Int8>,
        is_admin -> Bool,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int4,
    }
}

diesel::joinable!(activity_bindings -> activities (activity_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(contact_companies -> companies (company_id));
diesel::joinable!(contact_companies -> contacts (contact_id));
diesel::joinable!(deal_contacts -> contacts (contact_id));
diesel::joinable!(deal_contacts -> deals (deal_id));
diesel::joinable!(deal_stage_history -> deals (deal_id));
diesel::joinable!(deal_stage_history -> users (by_id));
diesel::joinable!(lead_conversions -> companies (company_id));
diesel::joinable!(lead_conversions -> contacts (contact_id));
diesel::joinable!(lead_conversions -> deals (deal_id));
diesel::joinable!(lead_conversions -> leads (lead_id));
diesel::joinable!(lead_conversions -> users (converted_by_id));
diesel::joinable!(product_rows -> products (product_id));
diesel::joinable!(deals -> pipelines (pipeline_id));
diesel::joinable!(deals -> stages (stage_id));
diesel::joinable!(stages -> pipelines (pipeline_id));
diesel::joinable!(timeline_entries -> users (author_id));
diesel::joinable!(users -> departments (department_id));

diesel::allow_tables_to_appear_in_same_query!(
    activities,
    activity_bindings,
    api_tokens,
    communications,
    companies,
    contact_companies,
    contacts,
    deal_contacts,
    deal_stage_history,
    deals,
    departments,
    events,
    lead_conversions,
    leads,
    pipelines,
    product_rows,
    products,
    stages,
    status_items,
    timeline_entries,
    users,
);
